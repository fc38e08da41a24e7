"""Import the plugin before any test module imports MMSeg: its compatibility
fixes must run first (MMSeg does not import on mmcv-lite without them)."""
import pytest
from mmengine.registry import init_default_scope

import mmseg_ocr_plus  # noqa: F401

init_default_scope('mmseg')


@pytest.fixture(autouse=True)
def mmseg_default_scope():
    """Every test starts in MMSeg's registry scope: a ``Runner`` built
    without ``default_scope`` leaves MMEngine's as the current one."""
    init_default_scope('mmseg')
