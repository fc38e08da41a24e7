from .decode_heads import OCRPlusHead, SoftRegionHead
from .segmentors import OCRCascadeEncoderDecoder

__all__ = ['OCRCascadeEncoderDecoder', 'OCRPlusHead', 'SoftRegionHead']
