"""1x1 convs as batched matrix products equal ``F.conv2d``: values (float64,
so rounding cannot hide an error), gradients, sliced weights, autocast dtype,
the channels-last fallback, and the layer built by ``conv_cfg`` keeping
MMCV's parameters."""
import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model.weight_init import NormalInit

from mmseg_ocr_plus.models.utils import PointwiseConv2d, conv1x1


@pytest.mark.parametrize('batch', [1, 3])
@pytest.mark.parametrize('bias', [False, True])
def test_conv1x1_equals_conv2d(batch, bias):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 6, 5, 7, generator=g, dtype=torch.float64)
    weight = torch.randn(4, 6, 1, 1, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64) if bias else None
    out = conv1x1(x, weight, b)
    assert out.shape == (batch, 4, 5, 7)
    assert out.is_contiguous()
    torch.testing.assert_close(out, F.conv2d(x, weight, b))


def test_conv1x1_with_a_sliced_weight():
    """The fuse convolves each half of one kernel: non-contiguous slices."""
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    weight = torch.randn(5, 6, 1, 1, dtype=torch.float64)
    half = weight[:, 3:]
    assert not half.is_contiguous()
    torch.testing.assert_close(conv1x1(x, half), F.conv2d(x, half))


def test_conv1x1_gradients_equal_conv2d():
    def grads(fn):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(2, 6, 3, 5, generator=g, dtype=torch.float64)
        w = torch.randn(4, 6, 1, 1, generator=g, dtype=torch.float64)
        b = torch.randn(4, generator=g, dtype=torch.float64)
        for t in (x, w, b):
            t.requires_grad_()
        (fn(x, w, b) * torch.arange(4.).view(1, 4, 1, 1)).sum().backward()
        return x.grad, w.grad, b.grad

    for ours, ref in zip(grads(conv1x1), grads(F.conv2d)):
        torch.testing.assert_close(ours, ref)


def test_channels_last_input_keeps_conv2d():
    x = torch.randn(2, 6, 4, 5).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(3, 6, 1, 1)
    out = conv1x1(x, weight)
    assert torch.equal(out, F.conv2d(x, weight))  # the same kernel, bitwise
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_autocast_output_dtype_equals_conv2d():
    conv = PointwiseConv2d(8, 4, 1, bias=True)
    x = torch.randn(2, 8, 3, 3)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = conv(x)
        ref = F.conv2d(x, conv.weight, conv.bias)
    assert out.dtype == ref.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref.float(), atol=0.05, rtol=0.02)


@pytest.mark.parametrize(
    'kwargs', [dict(kernel_size=3), dict(kernel_size=1, stride=2),
               dict(kernel_size=1, groups=2), dict(kernel_size=1, padding=1)])
def test_pointwise_conv_rejects_other_convs(kwargs):
    with pytest.raises(ValueError, match='Expected a 1x1 conv'):
        PointwiseConv2d(4, 4, **kwargs)


def test_conv_cfg_builds_it_with_conv2d_keys_and_init():
    torch.manual_seed(0)
    plain = ConvModule(6, 4, 1, norm_cfg=dict(type='BN'))
    model = ConvModule(
        6, 4, 1, norm_cfg=dict(type='BN'),
        conv_cfg=dict(type='PointwiseConv2d'))
    assert type(model.conv) is PointwiseConv2d
    assert model.state_dict().keys() == plain.state_dict().keys()
    model.load_state_dict(plain.state_dict())
    x = torch.randn(2, 6, 8, 8)
    torch.testing.assert_close(model(x), plain(x))
    # MMEngine's initialisers select layers by class name: Conv2d matches.
    NormalInit(mean=3.0, std=0.0, layer='Conv2d')(model)
    assert torch.all(model.conv.weight == 3.0)


@pytest.mark.parametrize('kwargs', [
    dict(kernel_size=3), dict(kernel_size=1, stride=2),
    dict(kernel_size=1, groups=2)])
def test_only_plain_1x1_convs(kwargs):
    with pytest.raises(ValueError, match='Expected a 1x1 conv'):
        PointwiseConv2d(4, 4, **kwargs)


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('with_bias', [False, True])
def test_add_to_accumulates_in_place_with_gradients(channels_last, with_bias):
    """``fuse``: ``conv(feats, w1, b) + conv(context, w2)``, in place."""

    def run(fn):
        g = torch.Generator().manual_seed(0)
        a, b = (torch.randn(2, 6, 3, 5, generator=g, dtype=torch.float64)
                for _ in range(2))
        if channels_last:
            b = b.contiguous(memory_format=torch.channels_last)
        w = torch.randn(4, 12, 1, 1, generator=g, dtype=torch.float64)
        bias = torch.randn(4, generator=g, dtype=torch.float64)
        if not with_bias:
            bias = None
        leaves = [t.requires_grad_() for t in (a, b, w, bias) if t is not None]
        out = fn(a, b, w, bias)
        (out * torch.arange(4.).view(1, 4, 1, 1)).sum().backward()
        return out.detach(), [t.grad for t in leaves]

    def ours(a, b, w, bias):
        out = conv1x1(a, w[:, :6], bias)
        assert conv1x1(b, w[:, 6:], add_to=out) is out
        return out

    def reference(a, b, w, bias):
        return F.conv2d(torch.cat([a, b], 1), w, bias)

    (out, grads), (ref, ref_grads) = run(ours), run(reference)
    torch.testing.assert_close(out, ref)
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad)


def test_add_to_under_autocast_and_with_bias():
    x = torch.randn(2, 8, 3, 3)
    weight = torch.randn(4, 8, 1, 1)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = conv1x1(x, weight)
        assert conv1x1(x, weight, add_to=out).dtype == torch.bfloat16
    torch.testing.assert_close(
        out.float(), 2 * F.conv2d(x, weight), atol=0.1, rtol=0.02)
    with pytest.raises(ValueError, match='bias or add_to'):
        conv1x1(x, weight, torch.zeros(4), add_to=out)


def test_empty_batch():
    weight = torch.randn(3, 4, 1, 1)
    x = torch.randn(0, 4, 5, 5)
    assert conv1x1(x, weight).shape == (0, 3, 5, 5)
    assert conv1x1(x, weight, add_to=torch.zeros(0, 3, 5, 5)).shape == (
        0, 3, 5, 5)


def test_traced_layer_runs_plain_convs():
    """A trace must not freeze the contiguous-input branch."""
    conv = PointwiseConv2d(4, 3, 1)
    traced = torch.jit.trace(conv, torch.randn(1, 4, 5, 5))
    x = torch.randn(2, 4, 6, 7).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(traced(x), F.conv2d(x, conv.weight, conv.bias))
