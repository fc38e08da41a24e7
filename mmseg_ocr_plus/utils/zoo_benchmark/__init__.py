"""What ``tools/analysis_tools/zoo_benchmark.py`` builds on: metafile
lookup and update, checkpoint resolution and checks, speed and memory,
the report and the plots."""
from .checkpoints import (
    CheckpointMismatchError,
    CheckpointUnavailableError,
    check_state_dict,
    load_weights,
    resolve_checkpoint,
    sha256sum,
    zoo_hash_prefix,
)
from .measure import (
    PeakMemory,
    inference_speed,
    random_batch,
    stock_model_cfg,
    train_step_speed,
)
from .metafile import (
    PUBLISHED_KEYS,
    ZooModel,
    find_models,
    load_metafile,
    lookup_model,
    mmseg_metafiles,
    result_entry,
    update_metafile,
)
from .plots import render_confusion_matrix, render_per_class_iou
from .report import deltas, environment, measured_figures, render_markdown

__all__ = [
    'CheckpointMismatchError', 'CheckpointUnavailableError',
    'PUBLISHED_KEYS', 'PeakMemory', 'ZooModel', 'check_state_dict',
    'deltas', 'environment', 'find_models', 'inference_speed',
    'load_metafile', 'load_weights', 'lookup_model', 'measured_figures',
    'mmseg_metafiles', 'random_batch', 'render_confusion_matrix',
    'render_markdown', 'render_per_class_iou', 'resolve_checkpoint',
    'result_entry',
    'sha256sum', 'stock_model_cfg', 'train_step_speed', 'update_metafile',
    'zoo_hash_prefix'
]
