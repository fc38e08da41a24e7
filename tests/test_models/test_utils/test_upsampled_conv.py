"""The low-resolution 3x3 conv of resize_concat features equals the conv of
the concatenation: values (float64, so rounding cannot hide an error),
gradients, borders, odd sizes and scales it must leave to the direct conv."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_ocr_plus.models.utils import (
    conv3x3_upsampled,
    resize_concat_conv3x3,
    upsampled_conv,
)


def levels_and_concat(size, specs, requires_grad=False):
    """``specs``: (channels, level size) per level; level 0 sets ``size``."""
    g = torch.Generator().manual_seed(0)
    levels = [
        torch.randn(
            2, c, *hw, generator=g, dtype=torch.float64,
            requires_grad=requires_grad) for c, hw in specs
    ]
    concat = torch.cat([
        F.interpolate(lvl, size, mode='bilinear', align_corners=False)
        for lvl in levels
    ], 1)
    return levels, concat


def conv(cin, cout=7, bias=True):
    torch.manual_seed(0)
    return torch.nn.Conv2d(cin, cout, 3, padding=1, bias=bias).double()


@pytest.mark.parametrize('s', [2, 4, 8])
@pytest.mark.parametrize('hw', [(1, 1), (2, 3), (5, 4)])
def test_interior_of_one_upsampled_level(s, hw):
    x = torch.randn(2, 3, *hw, dtype=torch.float64)
    weight = torch.randn(5, 3, 3, 3, dtype=torch.float64)
    up = F.interpolate(x, scale_factor=s, mode='bilinear')
    expected = F.conv2d(up, weight, padding=1)
    out = conv3x3_upsampled(x, weight, s)
    assert out.shape == expected.shape
    torch.testing.assert_close(out[:, :, 1:-1, 1:-1],
                               expected[:, :, 1:-1, 1:-1])


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('bias', [False, True])
@pytest.mark.parametrize('size', [(16, 32), (24, 40), (8, 8)])
def test_equals_conv_of_concat(size, bias, channels_last):
    H, W = size
    specs = [(3, (H, W)), (4, (H // 2, W // 2)), (5, (H // 4, W // 4)),
             (6, (H // 8, W // 8))]
    levels, concat = levels_and_concat(size, specs, requires_grad=True)
    layer = conv(18, bias=bias)
    if channels_last:  # as prepare_for_inference makes them
        layer.to(memory_format=torch.channels_last)
        levels = [
            lvl.contiguous(memory_format=torch.channels_last)
            for lvl in levels
        ]
        concat = torch.cat([
            F.interpolate(lvl, size, mode='bilinear', align_corners=False)
            for lvl in levels
        ], 1).contiguous(memory_format=torch.channels_last)
    expected = layer(concat)
    out = resize_concat_conv3x3(levels, concat, layer)
    assert out.is_contiguous(memory_format=torch.channels_last) == (
        channels_last)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    grad = torch.randn_like(out)
    expected_grads = torch.autograd.grad(
        expected, levels + list(layer.parameters()), grad)
    grads = torch.autograd.grad(out, levels + list(layer.parameters()), grad)
    for g, e in zip(grads, expected_grads):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-10)


def test_non_integer_scales_use_the_direct_conv(monkeypatch):
    calls = []
    real = upsampled_conv.conv3x3_upsampled
    monkeypatch.setattr(upsampled_conv, 'conv3x3_upsampled',
                        lambda *a: calls.append(a[2]) or real(*a))
    # 4x upsampling on one axis, 3x on the other: not one integer factor
    levels, concat = levels_and_concat((12, 12), [(3, (12, 12)),
                                                  (4, (3, 4))])
    layer = conv(7)
    torch.testing.assert_close(
        resize_concat_conv3x3(levels, concat, layer), layer(concat))
    assert calls == []
    # 17 x 33 from 5 x 9: no integer factor either
    levels, concat = levels_and_concat((17, 33), [(3, (17, 33)),
                                                  (4, (5, 9))])
    torch.testing.assert_close(
        resize_concat_conv3x3(levels, concat, layer), layer(concat))
    assert calls == []
    # a 4x level is below MIN_SCALE; an 8x level takes the low-res path
    levels, concat = levels_and_concat((16, 16), [(3, (16, 16)),
                                                  (4, (4, 4))])
    torch.testing.assert_close(
        resize_concat_conv3x3(levels, concat, layer), layer(concat))
    assert calls == []
    levels, concat = levels_and_concat((16, 16), [(3, (16, 16)),
                                                  (4, (2, 2))])
    torch.testing.assert_close(
        resize_concat_conv3x3(levels, concat, layer), layer(concat))
    assert calls == [8]


def test_fewer_multiply_adds_for_hrnet_w18():
    """FLOPs of the OCR bottleneck for HRNet-W18 at 512x1024 (1/4 res)."""
    from torch.utils.flop_counter import FlopCounterMode
    H, W = 128, 256
    specs = [(18, (H, W)), (36, (H // 2, W // 2)), (72, (H // 4, W // 4)),
             (144, (H // 8, W // 8))]
    levels, concat = levels_and_concat((H, W), specs)
    layer = torch.nn.Conv2d(270, 512, 3, padding=1, bias=False).double()
    with torch.no_grad(), FlopCounterMode(display=False) as direct:
        layer(concat)
    with torch.no_grad(), FlopCounterMode(display=False) as lowres:
        resize_concat_conv3x3(levels, concat, layer)
    assert lowres.get_total_flops() < 0.55 * direct.get_total_flops()
