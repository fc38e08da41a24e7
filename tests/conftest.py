"""Import the plugin before any test module imports MMSeg: its compatibility
fixes must run first (MMSeg does not import on mmcv-lite without them).

The demo dataset generator is a tool, ``tools/misc/demo_scenes.py``; its
directory goes on ``sys.path`` here, so tests ``import demo_scenes`` as the
scripts beside it do."""
import sys
from pathlib import Path

import pytest
from mmengine.registry import init_default_scope

import mmseg_ocr_plus  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tools/misc'))
init_default_scope('mmseg')


@pytest.fixture(autouse=True)
def mmseg_default_scope():
    """Every test starts in MMSeg's registry scope: a ``Runner`` built
    without ``default_scope`` leaves MMEngine's as the current one."""
    init_default_scope('mmseg')
