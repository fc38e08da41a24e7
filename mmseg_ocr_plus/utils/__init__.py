"""Utilities. Nothing here imports mmseg: this package is imported before
:func:`.compat.apply_compat` runs."""

from .compat import MissingOpError, apply_compat
from .complexity import ModelComplexity, PartComplexity, model_complexity
from .cpu_distributed import setup_cpu_distributed
from .preflight import (
    InvalidInputError,
    check_checkpoint_path,
    check_config_path,
    check_dataloaders,
)
from .pretrained import (
    PretrainedDownloadError,
    checkpoint_url,
    explain_download_errors,
)

__all__ = [
    'InvalidInputError', 'MissingOpError', 'ModelComplexity',
    'PartComplexity', 'PretrainedDownloadError', 'apply_compat',
    'check_checkpoint_path', 'check_config_path', 'check_dataloaders',
    'checkpoint_url', 'explain_download_errors', 'model_complexity',
    'setup_cpu_distributed'
]
