# OCRNet HRNetV2p-W18 with hierarchical multi-scale attention
# (https://arxiv.org/abs/2005.10821): trained at 0.5x and 1.0x, tested at
# model.test_cfg.scales. State-dict keys: OCRNet's plus attention_head.*.
_base_ = './ocrnet-plus_hr18.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='MultiScaleAttentionOCR',
    # in_channels: the OCR head's channels (512)
    attention_head=dict(
        type='ScaleAttentionHead', channels=256, norm_cfg=norm_cfg),
    train_low_scale=0.5,
    scale_loss_weight=0.05,  # on each scale's own OCR logits (NVIDIA's)
    # Hierarchical fusion, largest scale first; the reference evaluates at
    # scales=[0.5, 1.0, 2.0] (--cfg-options model.test_cfg.scales=...).
    test_cfg=dict(mode='whole', scales=[0.5, 1.0], flip=False))
