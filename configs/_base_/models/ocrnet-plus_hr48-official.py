# OCRNet HRNetV2p-W48 as the official implementations build it (openseg,
# HRNet-OCR; the leaves set what differs per layout). Converted official
# weights load strictly: tools/model_converters/ocrnet_official2mmseg.py.
_base_ = './ocrnet-plus_hr48.py'

model = dict(
    pretrained=None,  # start from converted weights (load_from)
    backbone=dict(
        type='ReferenceHRNet',  # fuse upsampling straight to the size
        align_corners=True),
    decode_head=[
        dict(_base_.model.decode_head[0], align_corners=True),
        dict(
            _base_.model.decode_head[1],
            dropout_ratio=0.05,  # the official fuse block's Dropout2d(0.05)
            align_corners=True),
    ])
