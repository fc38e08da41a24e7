_base_ = './ocrnet-plus_hr18.py'
# HRNetV2p-W48: the heads read 48+96+192+384 = 720 concatenated channels.
# Config lists are replaced, not merged: the heads are W18's with the new
# input widths.
hrnet_channels = [48, 96, 192, 384]
model = dict(
    pretrained='open-mmlab://msra/hrnetv2_w48',
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384)))),
    decode_head=[
        dict(
            _base_.model.decode_head[0],
            in_channels=hrnet_channels,
            channels=sum(hrnet_channels)),
        dict(_base_.model.decode_head[1], in_channels=hrnet_channels),
    ])
