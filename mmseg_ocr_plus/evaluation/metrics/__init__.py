from .boundary_f_score import (
    BoundaryFScore,
    boundary_counts,
    boundary_f_scores,
)
from .confusion_iou_metric import ConfusionIoUMetric, confusion_matrix

__all__ = [
    'BoundaryFScore', 'ConfusionIoUMetric', 'boundary_counts',
    'boundary_f_scores', 'confusion_matrix'
]
