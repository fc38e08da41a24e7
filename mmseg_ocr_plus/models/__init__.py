from .backbones import ReferenceHRModule, ReferenceHRNet
from .decode_heads import ASPOCRHead, OCRPlusHead, SoftRegionHead
from .losses import OhemCrossEntropyLoss, RMILoss
from .segmentors import MultiScaleAttentionOCR, OCRCascadeEncoderDecoder
from .utils import resize_concat_conv3x3, shared_transform_inputs

__all__ = [
    'ASPOCRHead', 'MultiScaleAttentionOCR', 'OCRCascadeEncoderDecoder',
    'OhemCrossEntropyLoss', 'OCRPlusHead', 'RMILoss', 'ReferenceHRModule',
    'ReferenceHRNet', 'SoftRegionHead', 'resize_concat_conv3x3',
    'shared_transform_inputs'
]
