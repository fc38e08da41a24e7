"""Tests of OhemCrossEntropyLoss against a direct computation of the
openseg.pytorch / HRNet-OCR rule: keep the valid pixels whose ground-truth
probability is below max(thresh, p_(min_kept)), average over them."""
import json

import pytest
import torch
from mmseg.registry import MODELS

from mmseg_ocr_plus.models.losses import OhemCrossEntropyLoss

K = 5


def direct_ohem(logits, label, thresh, min_kept, class_weight=None,
                ignore=255):
    """Sort the batch's ground-truth probabilities, threshold, average."""
    flat = logits.double().permute(0, 2, 3, 1).reshape(-1, logits.shape[1])
    target = label.reshape(-1)
    keep = target != ignore
    flat, target = flat[keep], target[keep]
    if target.numel() == 0:
        return torch.tensor(0.0, dtype=torch.float64)
    idx = torch.arange(target.numel())
    nll = -flat.log_softmax(1)[idx, target]
    prob = (-nll).exp()
    ordered = prob.sort().values
    threshold = max(thresh, ordered[min(min_kept, len(ordered) - 1)].item())
    chosen = prob < threshold
    weight = torch.ones_like(nll) if class_weight is None else torch.tensor(
        class_weight, dtype=torch.float64)[target]
    if not chosen.any():
        return torch.tensor(0.0, dtype=torch.float64)
    return (nll * weight)[chosen].sum() / weight[chosen].sum()


def sample(seed=0, b=2, h=12, w=16):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, K, h, w, generator=g) * 3
    label = torch.randint(0, K, (b, h, w), generator=g)
    label[:, :2] = 255
    return logits, label


@pytest.mark.parametrize(
    'thresh, min_kept',
    [
        (0.7, 10),  # the threshold decides
        (0.05, 200),  # min_kept decides
        (0.7, 0),
        (0.9, 10**6),  # more than the valid pixels: all but the easiest
    ])
def test_matches_direct_computation(thresh, min_kept):
    logits, label = sample()
    loss = OhemCrossEntropyLoss(thresh=thresh, min_kept=min_kept)
    expected = direct_ohem(logits, label, thresh, min_kept)
    torch.testing.assert_close(loss(logits, label), expected.float())
    half = OhemCrossEntropyLoss(thresh=thresh, min_kept=min_kept,
                                loss_weight=0.5)
    torch.testing.assert_close(half(logits, label), 0.5 * expected.float())


def test_min_kept_counts_pixels_of_the_whole_batch():
    logits, label = sample()
    loss = OhemCrossEntropyLoss(thresh=0.0, min_kept=100)
    logits = logits.requires_grad_()
    loss(logits, label).backward()
    # thresh 0: exactly the 100 hardest valid pixels of the batch
    kept = logits.grad.abs().sum(1) > 0
    assert int(kept.sum()) == 100


def test_averages_over_kept_pixels_not_all():
    logits, label = sample()
    loss = OhemCrossEntropyLoss(thresh=0.7, min_kept=10)
    pixel = torch.nn.functional.cross_entropy(
        logits, label, ignore_index=255, reduction='none')
    prob = (-pixel).exp()
    kept = (label != 255) & (prob < 0.7)
    torch.testing.assert_close(loss(logits, label), pixel[kept].mean())
    assert loss(logits, label) > pixel[kept].sum() / (label != 255).sum()


@pytest.mark.parametrize('as_file', [False, True])
def test_class_weights_normalised_by_their_sum(as_file, tmp_path):
    weights = [0.5, 1.0, 2.0, 0.1, 3.0]
    arg = weights
    if as_file:
        arg = str(tmp_path / 'weights.json')
        (tmp_path / 'weights.json').write_text(json.dumps(weights))
    logits, label = sample(seed=3)
    loss = OhemCrossEntropyLoss(thresh=0.8, min_kept=30, class_weight=arg)
    torch.testing.assert_close(
        loss(logits, label),
        direct_ohem(logits, label, 0.8, 30, weights).float())
    # with thresh 1 every valid pixel is kept: PyTorch's weighted CE
    every = OhemCrossEntropyLoss(thresh=1.0, min_kept=0, class_weight=arg)
    torch.testing.assert_close(
        every(logits, label),
        torch.nn.functional.cross_entropy(
            logits, label, torch.tensor(weights), ignore_index=255))


def test_all_ignored_and_label_unchanged():
    logits, label = sample()
    label[:] = 255
    before = label.clone()
    logits.requires_grad_()
    value = OhemCrossEntropyLoss()(logits, label, ignore_index=255)
    value.backward()
    assert value.item() == 0 and torch.equal(label, before)
    assert logits.grad.abs().max() == 0


def test_registered_and_rejects_sampler_weights():
    loss = MODELS.build(dict(type='OhemCrossEntropyLoss', min_kept=5))
    assert isinstance(loss, OhemCrossEntropyLoss)
    assert loss.loss_name == 'loss_ce'
    logits, label = sample()
    with pytest.raises(ValueError, match='weight=None'):
        loss(logits, label, weight=torch.ones_like(label, dtype=torch.float))
