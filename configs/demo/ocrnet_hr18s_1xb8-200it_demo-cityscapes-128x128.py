# OCRNet HRNetV2p-W18-Small trained from scratch on the generated demo
# dataset (tools/demo.sh makes it: python tools/misc/make_demo_dataset.py
# data/demo_cityscapes --size 128 256 --num-train 100 --num-val 20).
# 1.2-1.3 s an iteration on two CPU cores (measured with tools/demo.sh):
# BN not SyncBN, small crops, and the OCR head at a quarter of the
# Cityscapes width (128 channels, not 512).
_base_ = [
    '../_base_/models/ocrnet-plus_hr18s.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)

max_iters = 200
crop_size = (128, 128)
img_scale = (256, 128)  # (w, h) the demo images are generated at
norm_cfg = dict(type='BN', requires_grad=True)  # one process, no SyncBN
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,  # no downloads: trained from scratch
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=[
        dict(_base_.model.decode_head[0], norm_cfg=norm_cfg),
        dict(
            _base_.model.decode_head[1],
            channels=128,  # 512 in the Cityscapes configs
            ocr_channels=64,  # 256 in the Cityscapes configs
            norm_cfg=norm_cfg),
    ])

data_root = 'data/demo_cityscapes'
train_pipeline = [
    dict(type='LoadImageFromFileChecked'),  # names unreadable files
    dict(type='LoadAnnotationsChecked'),
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.75, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotationsChecked'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,  # two cores: one loads, both compute
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optimizer = dict(type='AdamW', lr=2e-3, weight_decay=1e-4)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=20, by_epoch=False),
    dict(
        type='PolyLR',
        eta_min=1e-5,
        power=0.9,
        begin=20,
        end=max_iters,  # == max_iters
        by_epoch=False),
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
