# The demo run with OHEM cross entropy on the OCR head, CE x 0.4 on the
# soft-region head.
_base_ = './ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)
model = dict(decode_head=[
    _base_.model.decode_head[0],  # CE x 0.4
    dict(
        _base_.model.decode_head[1],
        loss_decode=dict(
            type='OhemCrossEntropyLoss',
            thresh=0.9,
            # 1/8 of the batch's 8 x 128 x 128 pixels, the Cityscapes ratio
            min_kept=16384,
            loss_weight=1.0)),
])
