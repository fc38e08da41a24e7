"""FastInferenceHook: prepares the segmentor inside its wrappers."""
from pathlib import Path
from unittest.mock import Mock

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS
from torch import nn

from mmseg_ocr_plus import prepare_for_inference
from mmseg_ocr_plus.engine.hooks import FastInferenceHook

DEMO = (Path(__file__).resolve().parents[3] /
        'configs/demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py')


class Wrapper(nn.Module):
    """Stands for DDP / MMSeg's TTA model: the model is in ``module``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module


def test_prepares_the_wrapped_segmentor():
    model = MODELS.build(Config.fromfile(DEMO).model)
    model.train()
    runner = Mock(model=Wrapper(Wrapper(model)))
    FastInferenceHook('bf16').before_test(runner)
    assert not model.training
    assert model._forward.autocast_dtype == torch.bfloat16
    assert model._forward.channels_last  # CPU
    assert not any(
        isinstance(m, nn.BatchNorm2d) for m in model.modules())
    message = runner.logger.info.call_args[0][0]
    assert 'bf16' in message and 'channels_last True' in message
    assert 'compiled False' in message
    assert 'keep_freed_memory False' in message


def test_compile_reaches_the_entry_points(monkeypatch):
    compiled = []

    def fake_compile(fn, **kwargs):
        compiled.append((fn.__name__, kwargs))
        return lambda *args, **kw: fn(*args, **kw)

    monkeypatch.setattr(torch, 'compile', fake_compile)
    model = MODELS.build(Config.fromfile(DEMO).model)
    runner = Mock(model=model)
    FastInferenceHook('fp32', compile=True).before_test(runner)
    options = dict(dynamic=False)
    assert compiled == [('_forward', options), ('encode_decode', options)]
    assert model._forward.compiled and model.encode_decode.compiled
    assert 'compiled True' in runner.logger.info.call_args[0][0]
    prepare_for_inference(model)  # again, not compiled
    assert len(compiled) == 2 and not model._forward.compiled


def test_bad_dtype():
    with pytest.raises(ValueError, match="dtype one of.*got 'int8'"):
        FastInferenceHook('int8')
