from .multi_scale_attention_ocr import MultiScaleAttentionOCR
from .ocr_cascade_encoder_decoder import OCRCascadeEncoderDecoder
from .segfix import SegFix

__all__ = ['SegFix', 'MultiScaleAttentionOCR', 'OCRCascadeEncoderDecoder']
