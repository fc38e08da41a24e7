from .ocr_plus_head import OCRPlusHead
from .soft_region_head import SoftRegionHead

__all__ = ['OCRPlusHead', 'SoftRegionHead']
