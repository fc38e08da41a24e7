from .backbones import ReferenceHRModule, ReferenceHRNet
from .decode_heads import ASPOCRHead, OCRPlusHead, SegFixHead, SoftRegionHead
from .losses import OhemCrossEntropyLoss, RMILoss
from .segmentors import (
    MultiScaleAttentionOCR,
    OCRCascadeEncoderDecoder,
    SegFix,
)
from .utils import resize_concat_conv, shared_transform_inputs

__all__ = [
    'ASPOCRHead', 'MultiScaleAttentionOCR', 'OCRCascadeEncoderDecoder',
    'OhemCrossEntropyLoss',
    'RMILoss', 'OCRPlusHead', 'ReferenceHRModule',
    'ReferenceHRNet', 'SegFix', 'SegFixHead', 'SoftRegionHead',
    'resize_concat_conv', 'shared_transform_inputs'
]
