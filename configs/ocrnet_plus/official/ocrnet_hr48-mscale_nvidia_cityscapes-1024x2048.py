# NVIDIA semantic-segmentation OCRNet HRNet-W48 with hierarchical multi-scale
# attention (network.ocrnet.HRNet_Mscale, i.e. MscaleOCR;
# https://arxiv.org/abs/2005.10821), e.g.
# cityscapes_ocrnet.HRNet_Mscale_outstanding-turtle.pth. Convert with
# tools/model_converters/ocrnet_official2mmseg.py (layout "nvidia-mscale").
# The single-scale NVIDIA config (input, conv biases, align_corners False,
# pipelines) plus the scale attention; recipe: scripts/train_cityscapes.yml,
# evaluation: scripts/eval_cityscapes.yml.
_base_ = './ocrnet_hr48_nvidia_cityscapes-1024x2048.py'
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='MultiScaleAttentionOCR',
    # make_attn_head: 3x3 512->256, BN, ReLU, 3x3 256->256, BN, ReLU,
    # 1x1 256->1, sigmoid (cfg.MODEL.SEGATTN_BOT_CH = 256, MSCALE_INNER_3x3)
    attention_head=dict(
        type='ScaleAttentionHead', channels=256, norm_cfg=norm_cfg),
    train_low_scale=0.5,  # cfg.MODEL.MSCALE_LO_SCALE
    scale_loss_weight=0.05,  # supervised_mscale_loss_wt in the recipe
    # n_scales "0.5,1.0,2.0" of scripts/eval_cityscapes.yml (86.92)
    test_cfg=dict(mode='whole', scales=[0.5, 1.0, 2.0], flip=False))
