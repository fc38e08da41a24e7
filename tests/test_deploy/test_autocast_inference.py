"""``prepare_for_inference``: the demo model's ``_forward`` and ``predict``
run under bf16 autocast with fp32 outputs, channels-last by default on CPU.

The accuracy of the fast path on the trained demo model is checked in
``tests/test_tools/test_fast_inference.py``.
"""
import copy

import pytest
import torch
from calibrated_models import build_calibrated, smooth_inputs
from mmseg.structures import SegDataSample
from torch.profiler import profile

from mmseg_ocr_plus import prepare_for_inference
from mmseg_ocr_plus.deploy import (
    compile_unavailable_reason,
    wrap_entry_points,
)

DEMO = 'demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'


@pytest.fixture(scope='module')
def demo_model():
    return build_calibrated(DEMO, smooth_inputs(8, 64, 128))


def test_bf16_predict_gives_fp32_logits_at_image_size(demo_model):
    model = prepare_for_inference(
        copy.deepcopy(demo_model), dtype=torch.bfloat16)
    inputs = smooth_inputs(1, 64, 96)
    meta = dict(img_shape=(64, 96), ori_shape=(64, 96))
    with torch.no_grad():
        sample, = model.predict(inputs, [SegDataSample(metainfo=meta)])
    assert sample.seg_logits.data.dtype == torch.float32
    # conv weights stored in bf16, the preprocessor's mean/std untouched
    assert model.backbone.conv1.weight.dtype == torch.bfloat16
    assert model.decode_head[1].conv_seg.weight.dtype == torch.bfloat16
    assert model.data_preprocessor.mean.dtype == torch.float32
    assert sample.seg_logits.data.shape == (19, 64, 96)
    assert sample.pred_sem_seg.data.shape == (1, 64, 96)


def test_default_path_is_untouched(demo_model):
    model = copy.deepcopy(demo_model)
    assert '_forward' not in vars(model)
    prepare_for_inference(model, channels_last=False)  # fp32: no wrapper
    assert '_forward' not in vars(model)
    with pytest.raises(ValueError, match='Expected dtype'):
        prepare_for_inference(model, dtype=torch.int8)


def test_channels_last_is_on_by_default_on_cpu_and_changes_no_logits(
        demo_model):
    nchw = prepare_for_inference(
        copy.deepcopy(demo_model), channels_last=False)
    fast = prepare_for_inference(copy.deepcopy(demo_model))
    assert fast._forward.channels_last
    assert fast._forward.autocast_dtype is None
    conv = fast.backbone.conv1
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    inputs = smooth_inputs(2, 64, 96)
    with torch.no_grad():
        expected = nchw(inputs, mode='tensor')
        logits = fast(inputs, mode='tensor')
    assert logits.is_contiguous()
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
    # preparing again replaces the wrapper; bf16 on top of channels-last
    prepare_for_inference(fast, dtype=torch.bfloat16)
    assert fast._forward.autocast_dtype == torch.bfloat16
    assert fast._forward.__wrapped__.__self__ is fast



def test_preparing_again_in_fp32_restores_fp32_weights(demo_model):
    model = prepare_for_inference(copy.deepcopy(demo_model), torch.bfloat16)
    prepare_for_inference(model)
    assert model.backbone.conv1.weight.dtype == torch.float32
    with torch.no_grad():
        logits = model(smooth_inputs(1, 64, 96), mode='tensor')
    assert logits.dtype == torch.float32


def test_fp32_preparation_turns_on_the_lowres_head_convs(
        demo_model, monkeypatch):
    from mmseg_ocr_plus.deploy import enable_lowres_convs
    from mmseg_ocr_plus.models.utils.upsampled_conv import Resample
    calls = []
    real = Resample.apply
    monkeypatch.setattr(Resample, 'apply',
                        lambda *a: calls.append(1) or real(*a))
    model = copy.deepcopy(demo_model).eval()
    aux, ocr = model.decode_head
    assert not aux.lowres_conv and not ocr.lowres_bottleneck
    inputs = smooth_inputs(1, 256, 512)
    with torch.no_grad():
        expected = model(inputs, mode='tensor')
        prepare_for_inference(model)
        logits = model(inputs, mode='tensor')
    assert aux.lowres_conv and ocr.lowres_bottleneck
    assert len(calls) == 4  # the 4x and 8x levels of both heads
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
    assert enable_lowres_convs(model) == 0  # already on
    # bf16: the same flags, the direct convs
    prepare_for_inference(model, dtype=torch.bfloat16)
    with torch.no_grad():
        model(inputs, mode='tensor')
    assert len(calls) == 4


class ConvReLU(torch.nn.Module):
    """The smallest thing with a segmentor's ``_forward``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(8, 16, 3, padding=1)

    def _forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.conv(inputs).relu()


needs_compiler = pytest.mark.skipif(
    compile_unavailable_reason('cpu') is not None,
    reason=str(compile_unavailable_reason('cpu')))


@needs_compiler
def test_compile_freezes_and_fuses_the_convs():
    model = ConvReLU().eval()
    x = torch.randn(1, 8, 16, 16)
    with torch.no_grad():
        expected = model._forward(x)
    wrap_entry_points(model, compile=True)
    assert model._forward.compiled and model._forward.autocast_dtype is None
    model._forward(x)  # the compile; gradients are off inside
    with profile() as prof:
        logits = model._forward(x)
    ops = {event.key for event in prof.key_averages()}
    # frozen: oneDNN's conv with the ReLU fused, no aten conv
    assert 'mkldnn::_convolution_pointwise' in ops, sorted(ops)
    assert 'aten::convolution' not in ops
    assert not logits.requires_grad
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
    # Frozen weights: a change is seen only after preparing again, which
    # compiles again (Dynamo's cache is per wrapper, not shared).
    with torch.no_grad():
        model.conv.weight.mul_(-1)
        flipped = model.conv(x).relu()
    wrap_entry_points(model, compile=True)
    torch.testing.assert_close(model._forward(x), flipped, rtol=1e-4,
                               atol=1e-4)


def test_compile_refuses_early_without_a_compiler(demo_model, monkeypatch):
    monkeypatch.setenv('CXX', 'no-such-compiler')
    with pytest.raises(RuntimeError, match=r'compile=True\): torch.compile '
                       r'on cpu needs the compiler no-such-compiler '
                       r'\(\$CXX\)'):
        prepare_for_inference(copy.deepcopy(demo_model), compile=True)
