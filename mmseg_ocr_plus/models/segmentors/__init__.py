from .ocr_cascade_encoder_decoder import OCRCascadeEncoderDecoder

__all__ = ['OCRCascadeEncoderDecoder']
