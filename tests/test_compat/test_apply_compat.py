"""Tests for :func:`mmseg_ocr_plus.compat.apply_compat`."""
import sys

from mmengine.runner.checkpoint import CheckpointLoader

from mmseg_ocr_plus.compat import apply_compat


def test_apply_compat_runs_once():
    ops = sys.modules.get('mmcv.ops')
    load_checkpoint = CheckpointLoader.__dict__['load_checkpoint']
    from mmengine.config import config as mmengine_config

    is_installed = mmengine_config.is_installed
    apply_compat()
    apply_compat()
    assert apply_compat.cache_info().hits >= 2
    assert sys.modules.get('mmcv.ops') is ops
    assert CheckpointLoader.__dict__['load_checkpoint'] is load_checkpoint
    assert mmengine_config.is_installed is is_installed
