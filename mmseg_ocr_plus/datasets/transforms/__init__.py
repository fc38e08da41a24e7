from .class_aware_crop import ClassAwareRandomCrop
from .loading import (
                      LoadAnnotationsChecked,
                      LoadImageFromFileChecked,
                      UnreadableImageError,
)

__all__ = [
    'ClassAwareRandomCrop', 'LoadAnnotationsChecked',
    'LoadImageFromFileChecked', 'UnreadableImageError'
]
