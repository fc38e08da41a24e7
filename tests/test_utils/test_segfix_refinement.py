"""SegFix refinement: a boundary shifted by a known offset is recovered
exactly; labels are only ever copied (no new ids); the safeguards."""
import numpy as np
import pytest

from mmseg_ocr_plus.datasets.transforms import GenerateSegFixTargets
from mmseg_ocr_plus.utils.segfix_refinement import (
    direction_offsets,
    refine_label_map,
)

DIRECTIONS = GenerateSegFixTargets.directions


def offsets_from_ground_truth(gt, scale=2, boundary_width=5):
    """The offsets a perfect SegFix model would predict for ``gt``."""
    boundary, direction = GenerateSegFixTargets(boundary_width).targets(gt)
    return direction_offsets(boundary, direction, DIRECTIONS, scale)


@pytest.mark.parametrize('shift', [1, 2])
def test_shifted_vertical_boundary_is_recovered(shift):
    gt = np.full((16, 32), 4, np.uint8)
    gt[:, 16:] = 9
    pred = np.full_like(gt, 4)
    pred[:, 16 - shift:] = 9  # class 9 bleeds `shift` px into class 4
    assert (pred != gt).sum() == 16 * shift
    refined = refine_label_map(pred, offsets_from_ground_truth(gt))
    np.testing.assert_array_equal(refined, gt)


def test_shifted_band_is_recovered():
    gt = np.zeros((40, 24), np.uint8)
    gt[10:30] = 6
    pred = np.zeros_like(gt)
    pred[12:32] = 6  # the band moved 2 px down: both edges wrong
    refined = refine_label_map(pred, offsets_from_ground_truth(gt))
    np.testing.assert_array_equal(refined, gt)


@pytest.mark.parametrize('dy, dx', [(2, 0), (2, 2)])
def test_shifted_square_is_recovered_but_at_its_corners(dy, dx):
    gt = np.zeros((40, 40), np.uint8)
    gt[10:30, 12:28] = 6
    pred = np.zeros_like(gt)
    pred[10 + dy:30 + dy, 12 + dx:28 + dx] = 6
    refined = refine_label_map(pred, offsets_from_ground_truth(gt))
    wrong = np.argwhere(refined != gt)
    assert len(wrong) < (pred != gt).sum() / 10
    # Left: pixels by a corner whose direction points along the moved
    # edge, into pixels the prediction also has wrong.
    corners = np.array([(10, 12), (10, 27), (29, 12), (29, 27)])
    for y, x in wrong:
        assert np.abs(corners - (y, x)).max(1).min() <= 2, (y, x)


def test_no_new_label_ids_ever():
    rng = np.random.default_rng(0)
    pred = rng.choice(np.array([0, 3, 7, 200, 255], np.uint8),
                      size=(24, 30))
    offsets = rng.uniform(-4, 4, size=(2, 24, 30)).astype(np.float32)
    refined = refine_label_map(pred, offsets)
    assert refined.dtype == pred.dtype
    assert set(np.unique(refined)) <= set(np.unique(pred))
    # Nearest lookup: every pixel holds its own label or the label of the
    # pixel at its rounded offset.
    ys, xs = np.mgrid[0:24, 0:30]
    ty = np.clip(ys + np.rint(offsets[0]).astype(int), 0, 23)
    tx = np.clip(xs + np.rint(offsets[1]).astype(int), 0, 29)
    assert ((refined == pred) | (refined == pred[ty, tx])).all()


def test_safeguards_keep_the_label():
    pred = np.array([[1, 1, 2, 2], [255, 1, 2, 2]], np.uint8)
    offsets = np.zeros((2, 2, 4), np.float32)
    offsets[1, 0, 0] = -2  # leaves the image: keep 1
    offsets[0, 0, 1] = 1
    offsets[1, 0, 1] = -1  # lands on the ignored pixel: keep 1
    offsets[1, 0, 2] = -1  # lands on a 1: take it
    offsets[1, 1, 3] = 0.6  # rounds to the right of the image: keep 2
    refined = refine_label_map(pred, offsets)
    np.testing.assert_array_equal(refined,
                                  [[1, 1, 1, 2], [255, 1, 2, 2]])


def test_direction_offsets():
    boundary = np.array([[1, 0, 255], [1, 1, 0]], np.uint8)
    direction = np.array([[0, 3, 4], [5, 255, 255]])
    with pytest.raises(ValueError, match=r'bins in 0\.\.7.*255'):
        direction_offsets(boundary, direction, DIRECTIONS)
    direction[1, 1] = 2
    offsets = direction_offsets(boundary, direction, DIRECTIONS, scale=3)
    # bin 0 left, 5 down-right, 2 up; nothing off the boundary.
    np.testing.assert_array_equal(offsets[0], [[0, 0, 0], [3, -3, 0]])
    np.testing.assert_array_equal(offsets[1], [[-3, 0, 0], [3, 0, 0]])
    with pytest.raises(ValueError, match='of one shape'):
        direction_offsets(boundary, direction[:1], DIRECTIONS)
    with pytest.raises(ValueError, match=r'shape \(2, 2, 3\)'):
        refine_label_map(boundary, offsets[:1])
