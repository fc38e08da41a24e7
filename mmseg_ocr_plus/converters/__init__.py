"""Converters of official checkpoints to this plugin's MMSeg models."""
from .checkpoint_file import CheckpointFileError, read_state_dict
from .layouts import LAYOUTS, Layout, UnknownLayoutError, detect_layout
from .ocrnet_official import (
    UnexpectedKeysError,
    convert_checkpoint,
    convert_state_dict,
)

__all__ = [
    'CheckpointFileError', 'LAYOUTS', 'Layout', 'UnexpectedKeysError',
    'UnknownLayoutError', 'convert_checkpoint', 'convert_state_dict',
    'detect_layout', 'read_state_dict'
]
