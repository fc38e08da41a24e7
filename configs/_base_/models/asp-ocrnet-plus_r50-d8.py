# ASP-OCR (openseg.pytorch ASPOCRNet) with ResNet-50-D8: the OCR head of
# ocrnet-plus_r50-d8.py replaced by ASPOCRHead; the soft-region head stays.
_base_ = './ocrnet-plus_r50-d8.py'
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(decode_head=[
    _base_.model.decode_head[0],  # SoftRegionHead on stage 3, CE x 0.4
    dict(
        type='ASPOCRHead',
        in_channels=2048,
        in_index=3,
        channels=256,  # 1x1 fuse of the 5 x 256 concatenated branches
        hidden_channels=256,
        ocr_channels=128,  # key width of the object attention
        dilations=(12, 24, 36),  # output stride 8
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
])
