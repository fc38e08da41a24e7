"""Datasets: a procedural Cityscapes-format demo dataset, loading
transforms that name unreadable files, and a class-aware random crop."""
from .demo_scenes import (
    CLASSES,
    IGNORE_INDEX,
    PALETTE,
    DemoDatasetSummary,
    draw_scene,
    generate_demo_dataset,
    image_rng,
    is_demo_dataset,
    iter_samples,
    sample_names,
)
from .transforms import (
    ClassAwareRandomCrop,
    LoadAnnotationsChecked,
    LoadImageFromFileChecked,
    UnreadableImageError,
)

__all__ = [
    'CLASSES',
    'ClassAwareRandomCrop',
    'IGNORE_INDEX',
    'LoadAnnotationsChecked',
    'LoadImageFromFileChecked',
    'PALETTE',
    'DemoDatasetSummary',
    'draw_scene',
    'generate_demo_dataset',
    'image_rng',
    'is_demo_dataset',
    'iter_samples',
    'sample_names',
    'UnreadableImageError',
]
