"""A conv of resized levels computed with the channel mixing at the levels'
own resolution equals the conv of the resized levels: values and gradients
in float64 (so rounding cannot hide an error), borders included, for 1x1 to
5x5 kernels, both ``align_corners``, non-integer scales and both memory
formats; it takes the low-resolution path where it should."""
import importlib

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from mmseg_ocr_plus.models.utils import resize_concat_conv, upsampled_conv
from mmseg_ocr_plus.models.utils.lowres_conv import check_conv

# the module, not the function of the same name
module = importlib.import_module('mmseg_ocr_plus.models.utils.upsampled_conv')

HRNET_W18 = [(18, 1), (36, 2), (72, 4), (144, 8)]  # channels, downsampling


def resized_conv(x, weight, size, align_corners):
    up = F.interpolate(x, size, mode='bilinear', align_corners=align_corners)
    return F.conv2d(up, weight, padding=weight.shape[-1] // 2)


def assert_same_grads(out, expected, inputs):
    grad = torch.randn_like(expected)
    for g, e in zip(torch.autograd.grad(out, inputs, grad),
                    torch.autograd.grad(expected, inputs, grad)):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-10)


@pytest.mark.parametrize('align_corners', [False, True])
@pytest.mark.parametrize('k', [1, 3, 5])
@pytest.mark.parametrize('hw,size', [((16, 8), (128, 64)), ((5, 9), (17, 33)),
                                     ((1, 1), (8, 8)), ((70, 40), (256, 128)),
                                     ((4, 4), (4, 4))])
def test_upsampled_conv_equals_conv_of_resize(hw, size, k, align_corners):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2,
                    3,
                    *hw,
                    generator=g,
                    dtype=torch.float64,
                    requires_grad=True)
    weight = torch.randn(5,
                         3,
                         k,
                         k,
                         generator=g,
                         dtype=torch.float64,
                         requires_grad=True)
    out = upsampled_conv(x, weight, size, align_corners)
    expected = resized_conv(x, weight, size, align_corners)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    assert_same_grads(out, expected, [x, weight])


def hrnet_like(size, scale_channels, channels_last, requires_grad=True):
    g = torch.Generator().manual_seed(0)
    H, W = size
    levels = [
        torch.randn(2,
                    c,
                    H // s,
                    W // s,
                    generator=g,
                    dtype=torch.float64,
                    requires_grad=requires_grad) for c, s in scale_channels
    ]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    levels_in = [lvl.contiguous(memory_format=fmt) for lvl in levels]
    concat = torch.cat([
        F.interpolate(lvl, size, mode='bilinear', align_corners=False)
        for lvl in levels_in
    ], 1).contiguous(memory_format=fmt)
    return levels, levels_in, concat


def count_resamples(monkeypatch):
    calls = []
    real = module.Resample.apply
    monkeypatch.setattr(module.Resample, 'apply',
                        lambda *a: calls.append(1) or real(*a))
    return calls


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('bias', [False, True])
@pytest.mark.parametrize('k', [1, 3])
def test_resize_concat_conv_equals_conv_of_concat(k, bias, channels_last,
                                                  monkeypatch):
    calls = count_resamples(monkeypatch)
    # enough channels for the 4x and 8x levels to pay (see MAX_COST)
    levels, levels_in, concat = hrnet_like((32, 64), [(3, 1), (4, 2), (40, 4),
                                                      (60, 8)], channels_last)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(107, 7, k, padding=k // 2, bias=bias).double()
    if channels_last:  # as prepare_for_inference makes them
        conv.to(memory_format=torch.channels_last)
    expected = conv(concat)
    out = resize_concat_conv(levels_in, conv)
    assert len(calls) == 2  # the 4x and 8x levels
    assert out.is_contiguous(
        memory_format=torch.channels_last) == channels_last
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    assert_same_grads(out, expected, levels + list(conv.parameters()))


def test_non_integer_scale(monkeypatch):
    calls = count_resamples(monkeypatch)
    levels, _, concat = hrnet_like((30, 60), [(3, 1), (60, 7)], False)
    conv = torch.nn.Conv2d(63, 5, 3, padding=1).double()
    assert levels[1].shape[2:] == (4, 8)  # 7.5x
    out = resize_concat_conv(levels, conv)
    assert calls == [1]
    torch.testing.assert_close(out, conv(concat), rtol=0, atol=1e-12)
    assert_same_grads(out, conv(concat), levels + list(conv.parameters()))


def test_low_precision_and_small_scales_keep_the_direct_conv(monkeypatch):
    calls = count_resamples(monkeypatch)
    # a 2x level: mixing it first does not pay
    levels, _, concat = hrnet_like((32, 64), [(3, 1), (100, 2)], False)
    conv = torch.nn.Conv2d(103, 5, 3, padding=1).double()
    torch.testing.assert_close(resize_concat_conv(levels, conv),
                               conv(concat))
    assert calls == []
    # bf16 weights, and fp32 under bf16 autocast: AMX runs the direct conv
    levels, _, concat = hrnet_like((32, 64), [(3, 1), (60, 8)],
                                   False,
                                   requires_grad=False)
    conv = torch.nn.Conv2d(63, 5, 3, padding=1)
    levels, concat = [lvl.float() for lvl in levels], concat.float()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        resize_concat_conv(levels, conv)
    conv_bf16 = conv.to(torch.bfloat16)
    resize_concat_conv([lvl.bfloat16() for lvl in levels], conv_bf16)
    assert calls == []
    resize_concat_conv(levels, conv.float())
    assert calls == [1]


def test_a_first_call_under_inference_mode_leaves_training_possible():
    module.resampling_matrices.cache_clear()
    x = torch.randn(1, 2, 3, 5, dtype=torch.float64)
    weight = torch.randn(4, 2, 3, 3, dtype=torch.float64)
    with torch.inference_mode():
        upsampled_conv(x, weight, (11, 13))
    x.requires_grad_()
    upsampled_conv(x, weight, (11, 13)).sum().backward()  # saves the R
    assert x.grad is not None


class ResizeConcatConv(torch.nn.Module):

    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward(self, concat, *levels):
        return resize_concat_conv(list(levels), self.conv)


def test_a_trace_gets_the_plain_conv(monkeypatch):
    calls = count_resamples(monkeypatch)
    levels, _, concat = hrnet_like((32, 64), [(3, 1), (60, 8)],
                                   False,
                                   requires_grad=False)
    model = ResizeConcatConv(torch.nn.Conv2d(63, 5, 3, padding=1).double())
    model(concat, *levels)
    assert calls == [1]  # eager: the low-resolution path
    traced = torch.jit.trace(model, (concat, *levels), check_trace=False)
    assert calls == [1]
    assert 'conv' in str(traced.graph) and 'bmm' not in str(traced.graph)
    torch.testing.assert_close(traced(concat, *levels),
                               model.conv(concat),
                               rtol=0,
                               atol=0)


@pytest.mark.parametrize('kwargs', [
    dict(stride=2),
    dict(dilation=2, padding=2),
    dict(padding=0),
    dict(groups=3),
    dict(kernel_size=(3, 1), padding=(1, 0)),
    dict(kernel_size=2, padding=1)
])
def test_check_conv_refuses_other_convs(kwargs):
    kwargs = dict(dict(kernel_size=3, padding=1), **kwargs)
    with pytest.raises(ValueError, match='Expected a plain nn.Conv2d'):
        check_conv(torch.nn.Conv2d(6, 6, **kwargs))
    check_conv(torch.nn.Conv2d(6, 6, 3, padding=1))


@pytest.mark.parametrize('k,at_most', [(3, 0.29), (1, 0.35)])
def test_fewer_multiply_adds_for_hrnet_w18(k, at_most):
    """The OCR head's 3x3 conv (270 -> 512) and the aux head's 1x1 conv
    (270 -> 270) of HRNet-W18 at 512x1024 (features at 128x256)."""
    levels, _, concat = hrnet_like((128, 256),
                                   HRNET_W18,
                                   False,
                                   requires_grad=False)
    levels, concat = [lvl.float() for lvl in levels], concat.float()
    conv = torch.nn.Conv2d(270,
                           512 if k == 3 else 270,
                           k,
                           padding=k // 2,
                           bias=False)
    with torch.no_grad(), FlopCounterMode(display=False) as direct:
        conv(concat)
    with torch.no_grad(), FlopCounterMode(display=False) as lowres:
        resize_concat_conv(levels, conv)
    ratio = lowres.get_total_flops() / direct.get_total_flops()
    assert ratio < at_most, ratio
