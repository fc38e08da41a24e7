"""Compatibility fixes that let MMSeg 1.2.2 run on the current stack.

One file per fix, each saying what it fixes, the upstream issue, the
versions it applies to and when to delete it. :func:`apply_compat` runs them
once, in order: ``mmcv.ops`` before anything imports MMSeg, the
cross-entropy fix (which imports MMSeg's loss module) last.
"""
import functools

from . import checkpoint_loader, cross_entropy, mmcv_ops, package_lookup
from .checkpoint_loader import (
    PretrainedDownloadError,
    UnreadableCheckpointError,
    UnsafeCheckpointError,
)
from .cross_entropy import ignore_safe_cross_entropy
from .mmcv_ops import MissingOpError

__all__ = [
    'MissingOpError', 'PretrainedDownloadError', 'UnreadableCheckpointError',
    'UnsafeCheckpointError', 'apply_compat', 'ignore_safe_cross_entropy'
]


@functools.cache
def apply_compat() -> None:
    """Install every fix this environment needs (once per process)."""
    mmcv_ops.install()
    package_lookup.install()
    checkpoint_loader.install()
    cross_entropy.install()
