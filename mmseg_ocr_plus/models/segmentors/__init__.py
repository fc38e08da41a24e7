from .multi_scale_attention_ocr import MultiScaleAttentionOCR
from .ocr_cascade_encoder_decoder import OCRCascadeEncoderDecoder

__all__ = ['MultiScaleAttentionOCR', 'OCRCascadeEncoderDecoder']
