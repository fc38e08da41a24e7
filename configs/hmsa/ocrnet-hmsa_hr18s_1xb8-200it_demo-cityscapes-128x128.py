# The demo OCRNet (HRNetV2p-W18-Small from scratch on the generated demo
# dataset) with hierarchical multi-scale attention
# (https://arxiv.org/abs/2005.10821); same data, schedule and heads.
_base_ = '../demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)

norm_cfg = dict(type='BN', requires_grad=True)  # one process
model = dict(
    type='MultiScaleAttentionOCR',
    # in_channels: the demo OCR head's 128 channels
    attention_head=dict(
        type='ScaleAttentionHead',
        channels=64,  # 256 in the Cityscapes configs
        norm_cfg=norm_cfg),
    train_low_scale=0.5,
    scale_loss_weight=0.05,
    test_cfg=dict(mode='whole', scales=[0.5, 1.0], flip=False))
# Pictures of the attention of each fused scale for the first 4 val/test
# images (work_dir/<timestamp>/vis_data/vis_image/).
custom_hooks = _base_.custom_hooks + [
    dict(type='ScaleAttentionVisualizationHook', num_images=4),
]
