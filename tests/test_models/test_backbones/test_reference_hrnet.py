"""``ReferenceHRNet``: MMSeg's HRNet keys; the same function as MMSeg's
where both upsample alike (``align_corners=False``, sizes multiple of 32);
a different one where the references differ from MMSeg."""
import pytest
import torch
from mmseg.registry import MODELS

EXTRA = dict(
    stage1=dict(
        num_modules=1,
        num_branches=1,
        block='BOTTLENECK',
        num_blocks=(1, ),
        num_channels=(8, )),
    stage2=dict(
        num_modules=1,
        num_branches=2,
        block='BASIC',
        num_blocks=(1, 1),
        num_channels=(8, 16)),
    stage3=dict(
        num_modules=1,
        num_branches=3,
        block='BASIC',
        num_blocks=(1, 1, 1),
        num_channels=(8, 16, 24)),
    stage4=dict(
        num_modules=1,
        num_branches=4,
        block='BASIC',
        num_blocks=(1, 1, 1, 1),
        num_channels=(8, 16, 24, 32)))


def build_pair(align_corners: bool):
    torch.manual_seed(0)
    stock = MODELS.build(dict(type='HRNet', extra=EXTRA))
    ours = MODELS.build(
        dict(type='ReferenceHRNet', extra=EXTRA, align_corners=align_corners))
    ours.load_state_dict(stock.state_dict(), strict=True)
    stock.eval()  # HRNet.train() returns None: no chaining
    ours.eval()
    return stock, ours


def max_diff(a, b, size):
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        return max((p - q).abs().max().item() for p, q in zip(a(x), b(x)))


def test_same_state_dict_keys_and_shapes():
    stock, ours = build_pair(True)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape
        for k, v in stock.state_dict().items()
    }


def test_equals_mmseg_hrnet_where_both_upsample_alike():
    stock, ours = build_pair(False)
    assert max_diff(stock, ours, (64, 96)) == 0


@pytest.mark.parametrize('align_corners,size', [(False, (72, 104)),
                                                (True, (64, 96))])
def test_differs_where_the_references_differ(align_corners, size):
    stock, ours = build_pair(align_corners)
    assert max_diff(stock, ours, size) > 1e-3


def test_gradients_reach_every_parameter():
    _, ours = build_pair(True)
    ours.train()
    sum(y.mean() for y in ours(torch.randn(2, 3, 72, 104))).backward()
    for name, p in ours.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
