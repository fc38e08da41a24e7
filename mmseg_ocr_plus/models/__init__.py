from .decode_heads import OCRPlusHead, SoftRegionHead
from .segmentors import OCRCascadeEncoderDecoder
from .utils import resize_concat_conv3x3, shared_transform_inputs

__all__ = [
    'OCRCascadeEncoderDecoder', 'OCRPlusHead', 'SoftRegionHead',
    'resize_concat_conv3x3', 'shared_transform_inputs'
]
