"""Import the plugin before any test module imports MMSeg: its compatibility
fixes must run first (MMSeg does not import on mmcv-lite without them)."""
from mmengine.registry import init_default_scope

import mmseg_ocr_plus  # noqa: F401

init_default_scope('mmseg')
