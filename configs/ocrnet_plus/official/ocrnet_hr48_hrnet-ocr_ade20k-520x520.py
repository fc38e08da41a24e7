# HRNet-Semantic-Segmentation (branch HRNet-OCR) HRNet-W48 OCR on ADE20K,
# hrnet_ocr_ade20k_4451_torch04.pth (val 44.5, 45.5 ms). InPlaceABN
# without activation + ReLU: after conversion a plain BN + ReLU model.
# Convert with tools/model_converters/ocrnet_official2mmseg.py (layout
# "hrnet-ocr"). Recipe: experiments/ade20k/
# seg_hrnet_ocr_w48_520x520_ohem_sgd_lr2e-2_wd1e-4_bs_16_epoch120.yaml.
_base_ = [
    '../../_base_/models/ocrnet-plus_hr48-official.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)
crop_size = (520, 520)
# testval resizes the long side to 520 (multi_scale_aug at scale 1, after a
# short-side-520 resize) and pads to 520x520 for one whole-image pass. Here:
# one resize, and the padding is 0 after normalisation (the mean colour;
# HRNet-OCR pads with black, -mean/std). Near-exact, not exact.
data_preprocessor = dict(size=crop_size, test_cfg=dict(size=crop_size))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(
        type='RandomResize',
        scale=(2080, 520),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=True),  # long side 520
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=[
        dict(head, num_classes=150) for head in _base_.model.decode_head
    ],
    test_cfg=dict(mode='whole'))  # the padded 520x520 image in one pass
