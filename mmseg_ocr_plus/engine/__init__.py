from .hooks import ClassStatisticsHook, RegionVisualizationHook
from .optimizers import AutocastOptimWrapper

__all__ = [
    'AutocastOptimWrapper', 'ClassStatisticsHook', 'RegionVisualizationHook'
]
