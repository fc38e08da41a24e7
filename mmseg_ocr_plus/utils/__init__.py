"""Utilities. Nothing here imports mmseg: this package is imported before
:func:`.compat.apply_compat` runs."""

from .compat import MissingOpError, apply_compat
from .cpu_distributed import setup_cpu_distributed
from .preflight import (
    InvalidInputError,
    check_checkpoint_path,
    check_config_path,
    check_dataloaders,
)

__all__ = [
    'InvalidInputError', 'MissingOpError', 'apply_compat',
    'check_checkpoint_path', 'check_config_path', 'check_dataloaders',
    'setup_cpu_distributed'
]
