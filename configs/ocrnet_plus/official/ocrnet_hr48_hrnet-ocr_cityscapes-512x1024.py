# HRNet-Semantic-Segmentation (branch HRNet-OCR) HRNet-W48 OCR,
# hrnet_ocr_cs_8162_torch11.pth (Cityscapes val 81.6) and
# hrnet_ocr_cs_trainval_8227_torch11.pth. Convert with
# tools/model_converters/ocrnet_official2mmseg.py (layout "hrnet-ocr").
# Recipe: experiments/cityscapes/
# seg_hrnet_ocr_w48_train_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml.
_base_ = [
    '../../_base_/models/ocrnet-plus_hr48-official.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)
crop_size = (512, 1024)
# RGB, /255, ImageNet mean/std: MMSeg's defaults (bgr_to_rgb=True).
data_preprocessor = dict(size=crop_size)
# lib/datasets/cityscapes.py class_weights, on both losses (FullModel).
class_weight = [
    0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786,
    1.0023, 0.9539, 0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529,
    1.0507
]
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=[
        dict(
            head,  # aux head: 1x1 720->720 conv (the base's kernel_size=1)
            loss_decode=dict(head.loss_decode, class_weight=class_weight))
        for head in _base_.model.decode_head
    ],
    test_cfg=dict(mode='whole'))  # TEST.IMAGE_SIZE 2048x1024, one scale
