# openseg.pytorch HRNet-W48 OCR, master releases (InPlaceABN), e.g.
# hrnet_w48_ocr_1_latest.pth (Cityscapes val 81.09). Convert with
# tools/model_converters/ocrnet_official2mmseg.py (layout "openseg").
# Recipe: openseg scripts/cityscapes/hrnet/run_h_48_d_4_ocr.sh.
_base_ = [
    '../../_base_/models/ocrnet-plus_hr48-official.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)
crop_size = (512, 1024)
# openseg reads BGR with cv2 and normalises in B, G, R order with the
# ImageNet mean/std listed in R, G, B order (input_mode BGR): no swap.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size)
# InPlaceABN's default activation: LeakyReLU(0.01) after every head BN
# (the backbone's InPlaceABN has none and is followed by ReLU).
head_act = dict(type='LeakyReLU', negative_slope=0.01)
# openseg's Cityscapes ce_weight (configs/cityscapes/H_48_D_4.json), on
# both losses.
class_weight = [
    0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786,
    1.0023, 0.9539, 0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529,
    1.0507
]
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=[
        dict(
            _base_.model.decode_head[0],
            kernel_size=3,  # openseg aux head: 3x3 720->720 conv
            act_cfg=head_act,
            loss_decode=dict(
                _base_.model.decode_head[0].loss_decode,
                class_weight=class_weight)),
        dict(
            _base_.model.decode_head[1],
            act_cfg=head_act,
            loss_decode=dict(
                _base_.model.decode_head[1].loss_decode,
                class_weight=class_weight)),
    ],
    test_cfg=dict(mode='whole'))  # ss_test on the full 1024x2048 image
