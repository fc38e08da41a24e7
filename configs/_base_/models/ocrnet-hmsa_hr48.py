# OCRNet HRNetV2p-W48 with hierarchical multi-scale attention
# (https://arxiv.org/abs/2005.10821), the backbone of NVIDIA's MscaleOCR.
_base_ = './ocrnet-plus_hr48.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='MultiScaleAttentionOCR',
    attention_head=dict(
        type='ScaleAttentionHead', channels=256, norm_cfg=norm_cfg),
    train_low_scale=0.5,
    scale_loss_weight=0.05,  # on each scale's own OCR logits (NVIDIA's)
    test_cfg=dict(mode='whole', scales=[0.5, 1.0], flip=False))
