from .asp_ocr_head import ASPOCRHead
from .ocr_plus_head import OCRPlusHead
from .segfix_head import SegFixHead
from .soft_region_head import SoftRegionHead

__all__ = ['SegFixHead', 'ASPOCRHead', 'OCRPlusHead', 'SoftRegionHead']
