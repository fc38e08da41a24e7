"""Training hooks."""
from .class_statistics_hook import ClassStatisticsHook
from .region_visualization_hook import RegionVisualizationHook

__all__ = [
    'ClassStatisticsHook',
    'RegionVisualizationHook',
]
