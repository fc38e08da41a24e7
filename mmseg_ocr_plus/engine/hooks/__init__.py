"""Training hooks."""
from .checkpoint_match_hook import CheckpointMatchHook
from .class_statistics_hook import ClassStatisticsHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .region_visualization_hook import RegionVisualizationHook

__all__ = [
    'CheckpointMatchHook',
    'ClassStatisticsHook',
    'NonFiniteLossError',
    'NonFiniteLossHook',
    'RegionVisualizationHook',
]
