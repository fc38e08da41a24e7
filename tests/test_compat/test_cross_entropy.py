"""Tests for :mod:`mmseg_ocr_plus.compat.cross_entropy`: class-weighted
cross-entropy with ignored pixels (open-mmlab/mmsegmentation#3734)."""
import pytest
import torch
import torch.nn.functional as F

from mmseg_ocr_plus.compat import cross_entropy, ignore_safe_cross_entropy


def weighted_ce_case():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 4, 5, 5, generator=g)
    labels = torch.randint(0, 4, (2, 5, 5), generator=g)
    labels[0, :2] = 255
    return scores, labels, [0.5, 1.0, 2.0, 3.0]


def test_weighted_cross_entropy_takes_ignored_pixels():
    """A CrossEntropyLoss with class weights gives PyTorch's weighted mean
    where MMSeg 1.2.2's own function fails."""
    from mmseg.models.losses import CrossEntropyLoss, cross_entropy_loss

    scores, labels, weights = weighted_ce_case()
    loss = CrossEntropyLoss(class_weight=weights)
    assert loss.cls_criterion is ignore_safe_cross_entropy
    expected = F.cross_entropy(
        scores, labels, weight=torch.tensor(weights), ignore_index=255
    )
    torch.testing.assert_close(
        loss(scores, labels, ignore_index=255), expected
    )
    original = ignore_safe_cross_entropy.__wrapped__
    assert original is not ignore_safe_cross_entropy
    with pytest.raises(IndexError):  # open-mmlab/mmsegmentation#3734
        original(scores, labels, None, torch.tensor(weights), 'mean', None,
                 255)
    # Without ignored pixels, and without class weights: MMSeg's values.
    kept = labels.clamp(max=3)
    for class_weight in (torch.tensor(weights), None):
        torch.testing.assert_close(
            ignore_safe_cross_entropy(
                scores, kept, class_weight=class_weight, ignore_index=255
            ),
            original(scores, kept, None, class_weight, ignore_index=255),
        )
    # An ignore index inside [-K, K) does not fail in MMSeg (it counts the
    # ignored pixels' weights): MMSeg's values, bit for bit.
    for ignore_index in (0, -1):
        assert torch.equal(
            ignore_safe_cross_entropy(
                scores, labels.clamp(max=3), None, torch.tensor(weights),
                ignore_index=ignore_index),
            original(scores, labels.clamp(max=3), None, torch.tensor(weights),
                     ignore_index=ignore_index))
    assert CrossEntropyLoss()(scores, labels, ignore_index=255).isfinite()
    assert cross_entropy_loss.cross_entropy is ignore_safe_cross_entropy


def test_weighted_cross_entropy_called_before_the_fix(monkeypatch):
    """Called directly before MMSeg's module was patched: patches it."""
    from mmseg.models.losses import cross_entropy_loss

    fixed = ignore_safe_cross_entropy
    original = fixed.__wrapped__
    monkeypatch.delattr(fixed, '__wrapped__')
    monkeypatch.setattr(cross_entropy_loss, 'cross_entropy', original)
    scores, labels, weights = weighted_ce_case()
    expected = F.cross_entropy(
        scores, labels, weight=torch.tensor(weights), ignore_index=255
    )
    torch.testing.assert_close(
        fixed(scores, labels, None, torch.tensor(weights), ignore_index=255),
        expected,
    )
    assert fixed.__wrapped__ is original
    assert cross_entropy_loss.cross_entropy is fixed


def test_weighted_cross_entropy_fix_is_idempotent_and_gated(monkeypatch):
    from mmseg.models import losses

    fixed = ignore_safe_cross_entropy
    original = fixed.__wrapped__
    assert cross_entropy.install()
    assert losses.cross_entropy_loss.cross_entropy is fixed
    assert fixed.__wrapped__ is original  # not wrapped twice
    assert losses.cross_entropy is fixed  # the package's re-export too
    # Installed again on a module that holds MMSeg's function; gated by
    # MMSeg's version.
    monkeypatch.setattr(losses.cross_entropy_loss, 'cross_entropy', original)
    assert cross_entropy.install()
    assert losses.cross_entropy_loss.cross_entropy is fixed
    import mmseg
    monkeypatch.setattr(mmseg, '__version__', '1.2.3')
    monkeypatch.setattr(losses.cross_entropy_loss, 'cross_entropy', original)
    assert not cross_entropy.install()
    assert losses.cross_entropy_loss.cross_entropy is original
