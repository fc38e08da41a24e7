from .hooks import (
    CheckpointMatchHook,
    ClassStatisticsHook,
    NonFiniteLossError,
    NonFiniteLossHook,
    RegionVisualizationHook,
    ScaleAttentionVisualizationHook,
)
from .optimizers import AutocastOptimWrapper
from .runners import AtomicSaveRunner

__all__ = [
    'AtomicSaveRunner', 'AutocastOptimWrapper', 'CheckpointMatchHook',
    'ClassStatisticsHook', 'NonFiniteLossError', 'NonFiniteLossHook',
    'RegionVisualizationHook', 'ScaleAttentionVisualizationHook'
]
