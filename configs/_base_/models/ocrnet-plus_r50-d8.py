# OCRNet with ResNet-50-D8 (dilated, output stride 8): MMSeg's model with
# this plugin's segmentor and heads.
_base_ = 'mmseg::_base_/models/ocrnet_r50-d8.py'
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='OCRCascadeEncoderDecoder',
    decode_head=[
        dict(
            type='SoftRegionHead',
            in_channels=1024,
            in_index=2,  # stage 3; the OCR head reads stage 4
            channels=256,
            num_convs=1,
            concat_input=False,
            dropout_ratio=0.1,
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
        dict(
            type='OCRPlusHead',
            in_channels=2048,
            in_index=3,
            channels=512,
            ocr_channels=256,
            dropout_ratio=0.1,
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    ])
# Stop at the first NaN/inf loss, before it is saved; --cfg-options
# custom_hooks=[] turns it off. A leaf adding hooks keeps it with
# custom_hooks = [*_base_.custom_hooks, dict(type=...)].
custom_hooks = [dict(type='NonFiniteLossHook')]
