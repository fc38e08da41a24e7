# NVIDIA semantic-segmentation OCRNet HRNet-W48, single scale
# (network.ocrnet.HRNet; the multi-scale ocrnet.HRNet_Mscale is not this
# config). Convert with tools/model_converters/ocrnet_official2mmseg.py
# (layout "nvidia"). Recipe: scripts/train_cityscapes.yml (crop 1024x2048,
# batch 1 per GPU).
_base_ = [
    '../../_base_/models/ocrnet-plus_hr48-official.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)
crop_size = (1024, 2048)
# RGB, /255, ImageNet mean/std: MMSeg's defaults (bgr_to_rgb=True).
data_preprocessor = dict(size=crop_size)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(2048, 1024),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=train_pipeline))
# cfg.MODEL.ALIGN_CORNERS = False everywhere: fuse layers, concat, logits.
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(align_corners=False),
    decode_head=[
        dict(head, align_corners=False) for head in _base_.model.decode_head
    ],
    test_cfg=dict(mode='whole'))
