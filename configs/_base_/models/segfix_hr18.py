# SegFix (https://arxiv.org/abs/2007.04269) on HRNetV2p-W18: MMSeg's HRNet
# backbone, the four levels resized to 1/4 and concatenated, a boundary head
# (2 classes) and a direction head (8 bins), each 1x1 -> 256 BN-ReLU -> 1x1.
_base_ = 'mmseg::_base_/models/fcn_hr18.py'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='SegFix',
    decode_head=dict(
        _delete_=True,
        type='SegFixHead',
        in_channels=[18, 36, 72, 144],
        in_index=(0, 1, 2, 3),
        channels=256,  # the reference's mid_channels
        num_directions=8,  # GenerateSegFixTargets.directions
        norm_cfg=norm_cfg,
        align_corners=False))
