# Stock MMSeg OCRNet (CascadeEncoderDecoder, FCNHead + OCRHead) on the demo
# recipe: the same layers, state-dict keys, data and schedule as the demo
# config, so tools/analysis_tools/convergence.py can train both from the
# same initial weights.
_base_ = './ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'

model = dict(
    type='CascadeEncoderDecoder',
    decode_head=[
        dict(_base_.model.decode_head[0], type='FCNHead'),
        dict(_base_.model.decode_head[1], type='OCRHead'),
    ])
