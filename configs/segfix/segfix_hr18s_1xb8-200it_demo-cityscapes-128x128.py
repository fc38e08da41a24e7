# SegFix (https://arxiv.org/abs/2007.04269) on HRNetV2p-W18-Small, trained
# from scratch on the generated demo dataset (tools/demo.sh makes it), with
# the pipeline and optimiser of the OCRNet demo config. Refine the demo
# OCRNet's predictions with tools/segfix_refine.py, which reads the images
# and labels of test_dataloader.
_base_ = [
    '../_base_/models/segfix_hr18.py',
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
    backbone=dict(
        norm_cfg=norm_cfg,
        extra=dict(  # HRNetV2p-W18-Small: fewer blocks and modules
            stage1=dict(num_blocks=(2, )),
            stage2=dict(num_blocks=(2, 2)),
            stage3=dict(num_modules=3, num_blocks=(2, 2, 2)),
            stage4=dict(num_modules=2, num_blocks=(2, 2, 2, 2)))),
    decode_head=dict(
        channels=64,  # 256 in the Cityscapes config
        norm_cfg=norm_cfg))

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
    # 3 px, not 5: the demo images are 1/8 of Cityscapes' width.
    dict(type='GenerateSegFixTargets', boundary_width=3),
    dict(type='PackSegFixInputs'),
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
test_dataloader = dict(
    batch_size=1,
    num_workers=1,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_dataloader = None  # SegFix does not segment: see tools/segfix_refine.py
val_evaluator = None
val_cfg = None

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
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
