# The OHEM recipe of HRNet-OCR and openseg.pytorch: OHEM cross entropy,
# averaged over the kept pixels, on the OCR head; CE x 0.4 on the
# soft-region head.
_base_ = './ocrnet_hr18_4xb2-80k_cityscapes-512x1024.py'
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)
model = dict(decode_head=[
    _base_.model.decode_head[0],  # CE x 0.4
    dict(
        _base_.model.decode_head[1],
        loss_decode=dict(
            type='OhemCrossEntropyLoss',
            thresh=0.9,  # Cityscapes
            min_kept=131072,  # per GPU (2 crops: 1/8 of their pixels), HR
            loss_weight=1.0)),
])
