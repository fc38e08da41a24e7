# SegFix HRNetV2p-W48 on Cityscapes, the reference's schedule
# (openseg.pytorch scripts/cityscapes/segfix/run_h_48_d_4_segfix.sh,
# configs/cityscapes/H_SEGFIX.json): 80k iterations, 4 GPUs x 4 images,
# random 512x512 crops without rescaling, flips, SGD lr 0.04, poly.
# The targets are computed on the fly (GenerateSegFixTargets): no offset
# files. No validation loop: SegFix does not segment; judge it with
# tools/segfix_refine.py on a model's predictions.
_base_ = [
    '../_base_/models/segfix_hr18.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://msra/hrnetv2_w48',
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384)))),
    decode_head=dict(in_channels=[48, 96, 192, 384]))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size),  # no rescaling (reference)
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='GenerateSegFixTargets', boundary_width=5),  # after the crop
    dict(type='PackSegFixInputs'),
]
train_dataloader = dict(
    batch_size=4, dataset=dict(pipeline=train_pipeline))

optimizer = dict(type='SGD', lr=0.04, momentum=0.9, weight_decay=0.0005)
optim_wrapper = dict(optimizer=optimizer)
train_cfg = dict(val_interval=80000)
val_dataloader = None
val_evaluator = None
val_cfg = None
