"""Datasets: loading transforms that name unreadable files, a class-aware
random crop, and the class-pixel counting shared by ``ClassStatisticsHook``
and ``tools/analysis_tools/class_statistics.py``. The demo dataset
generator is a tool: ``tools/misc/demo_scenes.py``."""
from .class_statistics import (
    ClassStatisticsError,
    compute_class_weights,
    count_class_pixels,
)
from .transforms import (
    ClassAwareRandomCrop,
    GenerateSegFixTargets,
    LoadAnnotationsChecked,
    LoadImageFromFileChecked,
    PackSegFixInputs,
    UnreadableImageError,
)

__all__ = [
    'ClassAwareRandomCrop',
    'ClassStatisticsError',
    'GenerateSegFixTargets',
    'LoadAnnotationsChecked',
    'LoadImageFromFileChecked',
    'PackSegFixInputs',
    'UnreadableImageError',
    'compute_class_weights',
    'count_class_pixels',
]
