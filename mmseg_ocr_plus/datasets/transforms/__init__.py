from .class_aware_crop import ClassAwareRandomCrop
from .loading import (
                      InvalidLabelMapError,
                      LoadAnnotationsChecked,
                      LoadImageFromFileChecked,
                      UnreadableImageError,
)
from .pack_segfix_inputs import PackSegFixInputs
from .segfix_targets import GenerateSegFixTargets

__all__ = [
    'GenerateSegFixTargets', 'PackSegFixInputs',
    'ClassAwareRandomCrop', 'InvalidLabelMapError', 'LoadAnnotationsChecked',
    'LoadImageFromFileChecked', 'UnreadableImageError'
]
