# OCRNet with HRNetV2p-W18: MMSeg's model with this plugin's segmentor and
# heads. Default options keep MMSeg's layers, so MMSeg zoo weights load as is.
_base_ = 'mmseg::_base_/models/ocrnet_hr18.py'
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
hrnet_channels = [18, 36, 72, 144]
model = dict(
    type='OCRCascadeEncoderDecoder',  # each stage runs once per step
    decode_head=[
        dict(
            type='SoftRegionHead',  # MMSeg FCNHead keys: decode_head.0.*
            in_channels=hrnet_channels,
            channels=sum(hrnet_channels),
            in_index=(0, 1, 2, 3),
            input_transform='resize_concat',
            kernel_size=1,
            num_convs=1,
            concat_input=False,
            dropout_ratio=-1,  # no dropout before the aux classifier
            num_classes=19,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
        dict(
            type='OCRPlusHead',  # MMSeg OCRHead keys: decode_head.1.*
            in_channels=hrnet_channels,
            in_index=(0, 1, 2, 3),
            input_transform='resize_concat',  # shared with the aux head
            channels=512,
            ocr_channels=256,
            dropout_ratio=-1,  # the official code uses 0.05 here
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
