# ASP-OCR (openseg.pytorch HRNet_W48_ASPOCR) with HRNetV2p-W48: the OCR head
# of ocrnet-plus_hr48.py replaced by ASPOCRHead on the same resize_concat
# features; the soft-region head stays.
_base_ = './ocrnet-plus_hr48.py'
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(decode_head=[
    _base_.model.decode_head[0],  # SoftRegionHead, CE x 0.4
    dict(
        type='ASPOCRHead',
        in_channels=[48, 96, 192, 384],
        in_index=(0, 1, 2, 3),
        input_transform='resize_concat',  # shared with the aux head
        channels=256,  # 1x1 fuse of the 5 x 256 concatenated branches
        hidden_channels=256,
        ocr_channels=128,  # key width of the object attention
        dilations=(24, 48, 72),  # the reference's rates for HRNet
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
])
