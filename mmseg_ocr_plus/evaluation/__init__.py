"""Evaluation: the boundary F-score, as an MMSeg metric and as functions
the SegFix refinement tool calls; IoU from a kept (and drawable) confusion
matrix."""
from .metrics import (
    BoundaryFScore,
    ConfusionIoUMetric,
    boundary_counts,
    boundary_f_scores,
    confusion_matrix,
)

__all__ = [
    'BoundaryFScore', 'ConfusionIoUMetric', 'boundary_counts',
    'boundary_f_scores', 'confusion_matrix'
]
