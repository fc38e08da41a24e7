"""Boundary F-score on hand-made label maps, against values counted by
hand, and as a registered MMSeg metric."""
import numpy as np
import pytest
import torch
from mmseg.registry import METRICS

from mmseg_ocr_plus.evaluation import boundary_counts, boundary_f_scores


def halves(split, h=6, w=10):
    """Class 1 left of column ``split``, class 2 from it on."""
    seg = np.ones((h, w), np.uint8)
    seg[:, split:] = 2
    return seg


def test_perfect_prediction():
    gt = halves(5)
    counts = boundary_counts(gt, gt, num_classes=3, widths=(0, 1))
    # 6 boundary pixels per class (columns 4 and 5), all matched.
    np.testing.assert_array_equal(counts[:, :, 1:], 6)
    np.testing.assert_array_equal(counts[:, :, 0], 0)
    np.testing.assert_array_equal(boundary_f_scores(counts), [100, 100])


def test_shifted_boundary_by_width():
    gt, pred = halves(5), halves(7)  # boundary 2 px to the right
    counts = boundary_counts(pred, gt, num_classes=3, widths=(1, 2))
    # Class 1: predicted edge at column 6, true edge at column 4: 2 px
    # apart. Class 2: predicted at 7, true at 5: 2 px apart.
    np.testing.assert_array_equal(counts[0, :, 1], [0, 6, 0, 6])
    np.testing.assert_array_equal(counts[1, :, 1], [6, 6, 6, 6])
    np.testing.assert_array_equal(boundary_f_scores(counts), [0, 100])


def test_ignored_pixels_and_missing_class():
    gt = halves(5)
    gt[:, 5] = 255  # the band where the classes meet is ignored
    pred = np.ones_like(gt)  # class 2 missed entirely
    counts = boundary_counts(pred, gt, num_classes=3, widths=(1, ))
    # No boundary in pred; in gt, none by the ignored column: none at all.
    assert counts.sum() == 0
    assert np.isnan(boundary_f_scores(counts)).all()
    gt = halves(5)
    counts = boundary_counts(pred, gt, num_classes=3, widths=(1, ))
    # Both classes have 6 true boundary pixels, none predicted: F = 0.
    np.testing.assert_array_equal(counts[0, :, 1:], [[0, 0], [0, 0],
                                                     [0, 0], [6, 6]])
    assert boundary_f_scores(counts)[0] == 0


def test_precision_recall_mix():
    gt = halves(5, w=12)
    pred = halves(5, w=12)
    pred[0:3, 9] = 1  # a spurious vertical edge in class 2, rows 0-2
    counts = boundary_counts(pred, gt, num_classes=3, widths=(1, ))
    # Class 1: 6 true (column 4) + 3 spurious at column 9 (rows 0-2, with
    # class 2 left and right) = 9 predicted, 6 matched; recall 6/6.
    np.testing.assert_array_equal(counts[0, :, 1], [6, 9, 6, 6])
    f1 = 2 * (6 / 9) / (6 / 9 + 1)
    # Class 2: columns 5 (6 px, matched) and 8, 10 (rows 0-2) and row 3
    # at column 9: 6 + 3 + 3 + 1 predicted, 6 matched.
    np.testing.assert_array_equal(counts[0, :, 2], [6, 13, 6, 6])
    f2 = 2 * (6 / 13) / (6 / 13 + 1)
    assert boundary_f_scores(counts)[0] == pytest.approx(
        100 * (f1 + f2) / 2)


def test_registered_metric():
    metric = METRICS.build(dict(type='BoundaryFScore', widths=(1, 2)))
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    gt, pred = halves(5), halves(7)
    sample = dict(
        pred_sem_seg=dict(data=torch.from_numpy(pred)[None]),
        gt_sem_seg=dict(data=torch.from_numpy(gt)[None]))
    metric.process({}, [sample, sample])
    assert metric.evaluate(2) == {'bF@1': 0.0, 'bF@2': 100.0}
    with pytest.raises(ValueError, match='of one shape'):
        boundary_counts(pred[:2], gt, 3)
