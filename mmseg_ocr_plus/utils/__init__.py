"""Functions the tools call: model complexity, distributed setup on CPU,
input checks, checkpoint/model comparison, the message for failed
downloads and
SegFix's label refinement."""
from .complexity import ModelComplexity, PartComplexity, model_complexity
from .cpu_distributed import setup_cpu_distributed
from .preflight import (
    InvalidInputError,
    check_checkpoint_path,
    check_config_path,
    check_dataloaders,
    resume_checkpoint,
    run_tool,
    set_label_classes,
)
from .pretrained import checkpoint_url, download_error_message
from .segfix_refinement import direction_offsets, refine_label_map
from .state_dict_check import (
    CheckpointMismatchError,
    StateDictMismatch,
    compare_state_dicts,
)

__all__ = [
    'CheckpointMismatchError', 'InvalidInputError', 'ModelComplexity',
    'PartComplexity', 'StateDictMismatch', 'check_checkpoint_path',
    'check_config_path', 'check_dataloaders', 'checkpoint_url',
    'compare_state_dicts', 'direction_offsets', 'download_error_message',
    'model_complexity', 'refine_label_map',
    'resume_checkpoint', 'run_tool', 'set_label_classes',
    'setup_cpu_distributed'
]
