_base_ = [
    '../_base_/models/ocrnet-plus_hr18.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
# ADE20K has 150 classes; every other head setting is the base's.
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=[
        dict(head, num_classes=150) for head in _base_.model.decode_head
    ])
