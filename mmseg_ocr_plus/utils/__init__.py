"""Functions the tools call: model complexity, distributed setup on CPU,
input checks and the message for failed downloads."""
from .complexity import ModelComplexity, PartComplexity, model_complexity
from .cpu_distributed import setup_cpu_distributed
from .preflight import (
    InvalidInputError,
    check_checkpoint_path,
    check_config_path,
    check_dataloaders,
    run_tool,
)
from .pretrained import checkpoint_url, download_error_message

__all__ = [
    'InvalidInputError', 'ModelComplexity', 'PartComplexity',
    'check_checkpoint_path', 'check_config_path', 'check_dataloaders',
    'checkpoint_url', 'download_error_message', 'model_complexity',
    'run_tool', 'setup_cpu_distributed'
]
