_base_ = [
    '../_base_/models/ocrnet-hmsa_hr48.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmseg_ocr_plus'], allow_failed_imports=False)
crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
# A training step runs each crop at 0.5x and 1.0x: 1.25x the pixels of an
# OCRNet step (tools/analysis_tools/hmsa_step_cost.py times both).
model = dict(data_preprocessor=data_preprocessor)
