# openseg.pytorch SegFix HRNet-W48 on Cityscapes as released
# (segfix_hrnet_hrnet48_segfix_loss_iter80000_1_latest.pth, InPlaceABN).
# Convert with tools/model_converters/segfix_official2mmseg.py; the net is
# openseg lib/models/nets/segfix.py, the recipe
# scripts/cityscapes/segfix/run_h_48_d_4_segfix.sh (this base's schedule).
_base_ = ['./segfix_hr48_4xb4-80k_cityscapes-512x512.py']
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)

# openseg reads BGR with cv2 and normalises in B, G, R order with the
# ImageNet mean/std listed in R, G, B order (input_mode BGR): no swap.
# tools/test.py --segfix needs the segmentor to normalise alike (e.g. the
# openseg OCRNet configs in configs/ocrnet_plus/official/).
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,  # start from converted weights (load_from)
    backbone=dict(
        type='ReferenceHRNet',  # fuse upsampling straight to the size
        align_corners=True),
    decode_head=dict(
        align_corners=True,  # the levels are resized with align_corners
        # InPlaceABN's default activation after each head BN.
        act_cfg=dict(type='LeakyReLU', negative_slope=0.01)))
