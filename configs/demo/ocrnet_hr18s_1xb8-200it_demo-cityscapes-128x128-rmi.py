# The demo run with RMI on the OCR head (openseg's settings), CE x 0.4 on the
# soft-region head.
_base_ = './ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)
model = dict(decode_head=[
    _base_.model.decode_head[0],  # CE x 0.4
    dict(
        _base_.model.decode_head[1],
        loss_decode=dict(
            type='RMILoss',  # 0.5 sigmoid BCE + 0.5 RMI
            num_classes=19,
            rmi_pool_way='max',
            rmi_pool_size=3,
            rmi_pool_stride=3,
            pos_alpha=1e-3,
            loss_weight=1.0)),
])
