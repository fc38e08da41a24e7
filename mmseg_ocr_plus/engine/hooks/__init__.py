"""Training and test hooks."""
from .checkpoint_match_hook import CheckpointMatchHook
from .class_statistics_hook import ClassStatisticsHook
from .fast_inference_hook import FastInferenceHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .region_visualization_hook import RegionVisualizationHook
from .scale_attention_visualization_hook import (
    ScaleAttentionVisualizationHook,
)

__all__ = [
    'CheckpointMatchHook',
    'ClassStatisticsHook',
    'FastInferenceHook',
    'NonFiniteLossError',
    'NonFiniteLossHook',
    'RegionVisualizationHook',
    'ScaleAttentionVisualizationHook',
]
