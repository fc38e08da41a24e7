# openseg.pytorch HRNet-W48 OCR, pytorch-1.7 / v1.0 releases (SyncBN), e.g.
# cityscapes_hrnet_w48_ocr_rmi_paddle_lr2x_run2_latest.pth (Cityscapes val
# 82.6, trained with RMI; this config fine-tunes with cross-entropy).
# Convert with tools/model_converters/ocrnet_official2mmseg.py (layout
# "openseg-v1").
_base_ = './ocrnet_hr48_openseg_cityscapes-512x1024.py'
# SyncBN + ReLU (ModuleHelper.BNReLU with torchsyncbn): MMSeg's default
# activation; input convention, kernel sizes and class weights as master's.
model = dict(decode_head=[
    dict(head, act_cfg=dict(type='ReLU')) for head in _base_.model.decode_head
])
