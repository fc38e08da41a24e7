"""Runners."""
from .atomic_save_runner import AtomicSaveRunner, CheckpointSaveError

__all__ = ['AtomicSaveRunner', 'CheckpointSaveError']
