"""``GenerateSegFixTargets`` on hand-drawn label maps, against values worked
out by hand from the definition (distance to another segment <= width;
direction away from the nearest other segment, in 8 bins)."""
import math

import numpy as np
import pytest
import torch
from mmseg.registry import TRANSFORMS

from mmseg_ocr_plus.datasets.transforms import (
    GenerateSegFixTargets,
    PackSegFixInputs,
)
from mmseg_ocr_plus.datasets.transforms.segfix_targets import direction_bins

# Bins of GenerateSegFixTargets.directions, by name.
LEFT, UP_LEFT, UP, UP_RIGHT, RIGHT, DOWN_RIGHT, DOWN, DOWN_LEFT = range(8)
N = 255  # not a boundary pixel / ignored


def run(seg, **kwargs):
    results = GenerateSegFixTargets(**kwargs)(dict(gt_seg_map=seg))
    return results['gt_boundary_map'], results['gt_direction_map']


def test_directions_are_the_unit_steps_at_their_bin_angles():
    directions = GenerateSegFixTargets.directions
    assert len(directions) == 8
    for i, (dy, dx) in enumerate(directions):
        assert max(abs(dy), abs(dx)) == 1
        # bin i is centred on -180 + 45 i degrees (y down)
        angle = math.degrees(math.atan2(dy, dx))
        assert (angle - (-180 + 45 * i)) % 360 == pytest.approx(0)
        assert direction_bins(np.array([dy]), np.array([dx]))[0] == i


def test_bin_edges():
    # (-202.5 + 45 i, -157.5 + 45 i]: the upper edge belongs to the bin.
    angles = np.radians([-157.5, -157.4, 22.5, 22.6, 180, 0])
    bins = direction_bins(np.sin(angles), np.cos(angles))
    assert bins.tolist() == [LEFT, UP_LEFT, RIGHT, DOWN_RIGHT, LEFT, RIGHT]


def test_two_touching_regions():
    seg = np.full((12, 16), 3, np.uint8)
    seg[:, 8:] = 7
    boundary, direction = run(seg)
    # Class 3 at distances 8..1 from class 7 (columns 0..7), class 7 at
    # 1..8 (columns 8..15): boundary within 5 px on each side.
    row_boundary = [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]
    row_direction = [N, N, N] + [LEFT] * 5 + [RIGHT] * 5 + [N, N, N]
    assert boundary.dtype == np.uint8 and direction.dtype == np.int64
    np.testing.assert_array_equal(boundary, np.tile(row_boundary, (12, 1)))
    np.testing.assert_array_equal(direction, np.tile(row_direction, (12, 1)))

    boundary, direction = run(seg, boundary_width=1)
    assert np.argwhere(boundary[0]).ravel().tolist() == [7, 8]
    assert direction[0, 7] == LEFT and direction[0, 8] == RIGHT


def test_square():
    seg = np.zeros((20, 20), np.uint8)
    seg[6:14, 6:14] = 1  # an 8x8 square: every pixel within 4 px of its edge
    boundary, direction = run(seg)
    assert (boundary[6:14, 6:14] == 1).all()
    # Background: the Euclidean distance to the nearest square pixel.
    for (y, x), expected in {
        (1, 9): 1,  # 5 above the square
        (0, 9): 0,  # 6 above
        (3, 3): 1,  # sqrt(18) = 4.24 diagonally
        (2, 2): 0,  # sqrt(32) = 5.66 diagonally
        (2, 3): 1,  # sqrt(25) = 5: on the threshold
        (9, 0): 0,  # 6 left
        (9, 19): 0,  # 6 right
        (19, 9): 0,  # 6 below
    }.items():
        assert boundary[y, x] == expected, (y, x)
    # Beside a side: straight away from the square; the square's own edge
    # pixels point straight in, its corners diagonally in.
    np.testing.assert_array_equal(direction[1:6, 6:14], UP)
    np.testing.assert_array_equal(direction[14:19, 6:14], DOWN)
    np.testing.assert_array_equal(direction[6:14, 1:6], LEFT)
    np.testing.assert_array_equal(direction[6:14, 14:19], RIGHT)
    assert direction[3, 3] == direction[5, 5] == UP_LEFT
    assert direction[16, 16] == DOWN_RIGHT
    np.testing.assert_array_equal(direction[6, 7:13], DOWN)
    np.testing.assert_array_equal(direction[13, 7:13], UP)
    np.testing.assert_array_equal(direction[7:13, 6], RIGHT)
    np.testing.assert_array_equal(direction[7:13, 13], LEFT)
    assert (direction[6, 6], direction[6, 13], direction[13, 6],
            direction[13, 13]) == (DOWN_RIGHT, DOWN_LEFT, UP_RIGHT, UP_LEFT)
    np.testing.assert_array_equal(direction[boundary == 0], N)


def test_ignore_band():
    seg = np.full((12, 16), 3, np.uint8)
    seg[:, 9:] = 7
    seg[:, 7:9] = 255  # an ignored band between the two regions
    boundary, direction = run(seg)
    # Ignored pixels are ignored in both maps; they are another segment for
    # their neighbours: class 3 at distances 7..1 (columns 0..6), class 7
    # at 1..7 (columns 9..15).
    row_boundary = [0, 0, 1, 1, 1, 1, 1, N, N, 1, 1, 1, 1, 1, 0, 0]
    row_direction = [N, N] + [LEFT] * 5 + [N, N] + [RIGHT] * 5 + [N, N]
    np.testing.assert_array_equal(boundary, np.tile(row_boundary, (12, 1)))
    np.testing.assert_array_equal(direction, np.tile(row_direction, (12, 1)))


def test_single_segment_and_all_ignored():
    boundary, direction = run(np.full((5, 6), 4, np.uint8))
    assert (boundary == 0).all() and (direction == N).all()
    boundary, direction = run(np.full((5, 6), 255, np.uint8))
    assert (boundary == N).all() and (direction == N).all()


def test_custom_ignore_index_and_bad_inputs():
    seg = np.zeros((4, 8), np.int64)
    seg[:, 4:] = 1
    seg[0] = -1
    boundary, _ = run(seg, ignore_index=-1)
    assert (boundary[0] == N).all() and (boundary[1:, 3:5] == 1).all()
    with pytest.raises(ValueError, match='boundary_width >= 1, got 0'):
        GenerateSegFixTargets(boundary_width=0)
    with pytest.raises(ValueError, match=r'\[H, W\], got \(2, 4, 8\)'):
        run(np.zeros((2, 4, 8), np.uint8))


def test_registered_and_packed():
    transform = TRANSFORMS.build(
        dict(type='GenerateSegFixTargets', boundary_width=2))
    assert repr(transform) == ('GenerateSegFixTargets(boundary_width=2, '
                               'ignore_index=255)')
    seg = np.zeros((6, 8), np.uint8)
    seg[:, 4:] = 2
    results = transform(
        dict(gt_seg_map=seg, img=np.zeros((6, 8, 3), np.uint8)))
    sample = PackSegFixInputs()(results)['data_samples']
    for key in ('gt_boundary_map', 'gt_direction_map'):
        data = sample.get(key).data
        assert data.dtype == torch.int64 and data.shape == (1, 6, 8)
        np.testing.assert_array_equal(data[0].numpy(), results[key])
    assert sample.gt_sem_seg.data.shape == (1, 6, 8)
