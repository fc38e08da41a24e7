"""Converters of official checkpoints to this plugin's MMSeg models:
OCRNet (:mod:`.ocrnet_official`) and SegFix (:mod:`.segfix_official`)."""
from .checkpoint_file import CheckpointFileError, read_state_dict
from .layouts import LAYOUTS, Layout, UnknownLayoutError, detect_layout
from .ocrnet_official import (
    UnexpectedKeysError,
    convert_checkpoint,
    convert_state_dict,
)
from .segfix_official import (
    convert_segfix_checkpoint,
    convert_segfix_state_dict,
)

__all__ = [
    'CheckpointFileError', 'LAYOUTS', 'Layout', 'UnexpectedKeysError',
    'UnknownLayoutError', 'convert_checkpoint', 'convert_segfix_checkpoint',
    'convert_segfix_state_dict', 'convert_state_dict', 'detect_layout',
    'read_state_dict'
]
