"""Datasets: a procedural Cityscapes-format demo dataset."""
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

__all__ = [
    'CLASSES',
    'IGNORE_INDEX',
    'PALETTE',
    'DemoDatasetSummary',
    'draw_scene',
    'generate_demo_dataset',
    'image_rng',
    'is_demo_dataset',
    'iter_samples',
    'sample_names',
]
