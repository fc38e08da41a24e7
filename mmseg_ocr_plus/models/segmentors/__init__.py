from .multi_scale_attention_ocr import MultiScaleAttentionOCR
from .ocr_cascade_encoder_decoder import OCRCascadeEncoderDecoder
from .segfix import SegFix
from .segfix_refiner import SegFixRefiner

__all__ = [
    'SegFix', 'SegFixRefiner', 'MultiScaleAttentionOCR',
    'OCRCascadeEncoderDecoder'
]
