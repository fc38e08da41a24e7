"""``SegFixHead``: shapes, the layers of the reference (no conv bias), the
class-balanced losses and a gradient for every parameter."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import nn

from mmseg_ocr_plus.datasets.transforms import GenerateSegFixTargets
from mmseg_ocr_plus.models.decode_heads.segfix_head import (
    balanced_cross_entropy,
)

IN_CHANNELS = [4, 8, 16, 32]


def build_head(**kwargs):
    cfg = dict(
        type='SegFixHead',
        in_channels=IN_CHANNELS,
        in_index=(0, 1, 2, 3),
        channels=16,
        norm_cfg=dict(type='BN'))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def levels(batch=2, size=16):
    return [
        torch.randn(batch, c, size >> i, size >> i)
        for i, c in enumerate(IN_CHANNELS)
    ]


def samples_with_targets(batch=2, shapes=((32, 32), (32, 32))):
    transform = GenerateSegFixTargets(boundary_width=3)
    samples = []
    for h, w in shapes[:batch]:
        seg = np.zeros((h, w), np.uint8)
        seg[h // 4:h // 2, w // 5:w - 3] = 1
        seg[-2:] = 255
        results = transform(dict(gt_seg_map=seg))
        sample = SegDataSample()
        for key in ('gt_boundary_map', 'gt_direction_map'):
            sample.set_data({
                key:
                PixelData(data=torch.from_numpy(results[key][None].astype(
                    np.int64)))
            })
        samples.append(sample)
    return samples


def test_layers_and_shapes():
    head = build_head()
    assert head.out_channels == 2 + 8
    convs = [m for m in head.modules() if isinstance(m, nn.Conv2d)]
    # 1x1 -> mid, 1x1 -> classes, twice; none with a bias.
    assert sorted((m.in_channels, m.out_channels) for m in convs) == sorted(
        [(sum(IN_CHANNELS), 16)] * 2 + [(16, 2), (16, 8)])
    assert all(m.kernel_size == (1, 1) and m.bias is None for m in convs)
    out = head(levels())
    assert out.shape == (2, 10, 16, 16)  # at the first level's size
    with pytest.raises(ValueError, match='sets num_classes itself'):
        build_head(num_classes=19)


def test_every_parameter_gets_a_gradient():
    head = build_head()
    head.train()
    losses = head.loss_by_feat(head(levels()), samples_with_targets())
    assert set(losses) == {
        'loss_boundary', 'loss_direction', 'acc_boundary', 'acc_direction'
    }
    total = losses['loss_boundary'] + losses['loss_direction']
    assert torch.isfinite(total)
    total.backward()
    for name, param in head.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_targets_of_different_sizes_are_padded():
    head = build_head()
    samples = samples_with_targets(shapes=((32, 32), (24, 28)))
    losses = head.loss_by_feat(head(levels()), samples)
    assert torch.isfinite(losses['loss_boundary'])
    samples[0].pop('gt_direction_map')
    with pytest.raises(KeyError, match='Expected gt_direction_map'):
        head.loss_by_feat(head(levels()), samples)


def test_balanced_cross_entropy_weights():
    logits = torch.randn(1, 2, 3, 4)
    target = torch.tensor([[[0, 0, 0, 0], [0, 0, 1, 1], [255, 0, 0, 0]]])
    # 9 zeros, 2 ones among 11 valid pixels: weights 2/11 and 9/11.
    expected = F.cross_entropy(
        logits,
        target,
        weight=torch.tensor([2 / 11, 9 / 11]),
        ignore_index=255)
    torch.testing.assert_close(
        balanced_cross_entropy(logits, target), expected)
    # One class only: unweighted (weights 0 and 1 would give 0 / 0).
    only_zeros = torch.where(target == 1, 0, target)
    torch.testing.assert_close(
        balanced_cross_entropy(logits, only_zeros),
        F.cross_entropy(logits, only_zeros, ignore_index=255))
    # Nothing valid: 0, still differentiable.
    logits.requires_grad_()
    loss = balanced_cross_entropy(logits, torch.full_like(target, 255))
    loss.backward()
    assert loss.item() == 0 and logits.grad is not None
