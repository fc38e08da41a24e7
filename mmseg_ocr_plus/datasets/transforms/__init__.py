from .class_aware_crop import ClassAwareRandomCrop
from .loading import (
                      InvalidLabelMapError,
                      LoadAnnotationsChecked,
                      LoadImageFromFileChecked,
                      UnreadableImageError,
)

__all__ = [
    'ClassAwareRandomCrop', 'InvalidLabelMapError', 'LoadAnnotationsChecked',
    'LoadImageFromFileChecked', 'UnreadableImageError'
]
