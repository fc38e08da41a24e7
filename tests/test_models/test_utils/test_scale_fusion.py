"""Hierarchical scale fusion against the formulas of
https://arxiv.org/abs/2005.10821 written out by hand, and the attention
head's layers."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_ocr_plus.models.utils import ScaleAttentionHead, fuse_scales

B, K, H, W = 2, 3, 12, 16


def up(x, size):
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


def scale_outputs(scales, seed=0):
    """Random logits and attention at each scale's size ``s*H x s*W``."""
    g = torch.Generator().manual_seed(seed)
    preds, attns = [], []
    for s in scales:
        h, w = int(H * s), int(W * s)
        preds.append(torch.randn(B, K, h, w, generator=g))
        attns.append(torch.rand(B, 1, h, w, generator=g))
    return preds, attns


def test_two_scales_low_attends_to_one():
    (p1, p05), (_, a05) = scale_outputs([1.0, 0.5])
    expected = up(a05 * p05, (H, W)) + (1 - up(a05, (H, W))) * p1
    out = fuse_scales([p1, p05], [None, a05], [1.0, 0.5])
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    # The product is upsampled, not its factors.
    factors = up(a05, (H, W)) * up(p05, (H, W)) + (
        1 - up(a05, (H, W))) * p1
    assert (out - factors).abs().max() > 1e-3


def test_two_scales_high_is_downsampled():
    (p2, p1), (_, a1) = scale_outputs([2.0, 1.0])
    expected = a1 * p1 + (1 - a1) * up(p2, (H, W))
    out = fuse_scales([p2, p1], [None, a1], [2.0, 1.0])
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_three_scales_both_directions():
    (p2, p1, p05), (_, a1, a05) = scale_outputs([2.0, 1.0, 0.5])
    at_one = a1 * p1 + (1 - a1) * up(p2, (H, W))
    expected = up(a05 * p05, (H, W)) + (1 - up(a05, (H, W))) * at_one
    out = fuse_scales([p2, p1, p05], [None, a1, a05], [2.0, 1.0, 0.5])
    assert out.shape == (B, K, H, W)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_three_scales_below_one():
    (p1, p075, p05), (_, a075, a05) = scale_outputs([1.0, 0.75, 0.5])
    first = up(a075 * p075, (H, W)) + (1 - up(a075, (H, W))) * p1
    expected = up(a05 * p05, (H, W)) + (1 - up(a05, (H, W))) * first
    out = fuse_scales([p1, p075, p05], [None, a075, a05], [1.0, 0.75, 0.5])
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_single_scale_is_its_prediction():
    (p1, ), _ = scale_outputs([1.0])
    assert fuse_scales([p1], [None], [1.0]) is p1


def test_unsorted_or_mismatched_inputs_raise():
    preds, attns = scale_outputs([1.0, 0.5])
    with pytest.raises(ValueError, match='sorted high to low'):
        fuse_scales(preds[::-1], attns[::-1], [0.5, 1.0])
    with pytest.raises(ValueError, match='as many'):
        fuse_scales(preds, attns[:1], [1.0, 0.5])


def test_attention_head_layers_and_range():
    head = ScaleAttentionHead(in_channels=32, channels=16)
    keys = set(head.state_dict())
    assert {'conv0.conv.weight', 'conv0.bn.running_var', 'conv1.conv.weight',
            'conv1.bn.weight', 'conv2.weight'} <= keys
    assert not any(k.endswith('bias') and 'conv' in k.split('.')[-2]
                   for k in keys)  # no conv bias
    assert head.conv0.conv.kernel_size == head.conv1.conv.kernel_size == (3,
                                                                          3)
    assert head.conv2.weight.shape == (1, 16, 1, 1)
    a = head(torch.randn(2, 32, 9, 11))
    assert a.shape == (2, 1, 9, 11)
    assert 0 <= a.min() and a.max() <= 1
    with pytest.raises(ValueError, match='Expected 32 channels, got 8'):
        head(torch.randn(1, 8, 4, 4))
