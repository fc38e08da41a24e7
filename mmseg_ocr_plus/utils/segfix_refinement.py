"""SegFix refinement: move each boundary pixel's label along its direction.

SegFix (Yuan et al., ECCV 2020, https://arxiv.org/abs/2007.04269) replaces
the label of every predicted boundary pixel ``p`` with the label at
``p + scale * offset``, ``offset`` the ``(dy, dx)`` step of the predicted
direction bin, ``scale`` 2 in the reference (openseg.pytorch
``scripts/cityscapes/segfix.py``). The reference samples the label map with
bilinear ``grid_sample`` and rounds, which blends two label ids into a third
one (openseg#101). Here the label is looked up at the nearest pixel, so every
output label is a label of the input; where the target pixel lies outside
the image or is ignored, the pixel keeps its label.

Shape shorthand in this module: H x W the label map.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

__all__ = ['direction_offsets', 'refine_label_map']


def direction_offsets(boundary_map: np.ndarray,
                      direction_map: np.ndarray,
                      directions: Sequence[Tuple[int, int]],
                      scale: float = 2) -> np.ndarray:
    """The per-pixel offsets of a SegFix prediction.

    Args:
        boundary_map (np.ndarray): ``[H, W]``, non-zero on boundary pixels
            (1; the ignore value 255 counts as not a boundary).
        direction_map (np.ndarray): ``[H, W]`` direction bins.
        directions (Sequence[tuple[int, int]]): ``(dy, dx)`` of each bin,
            e.g. ``GenerateSegFixTargets.directions``.
        scale (float): Length factor of the offsets. Default: 2, the
            reference's.

    Returns:
        np.ndarray: ``[2, H, W]`` float32 ``(dy, dx)``, 0 off the boundary.
    """
    if boundary_map.shape != direction_map.shape:
        raise ValueError(f'Expected boundary and direction maps of one '
                         f'shape, got {boundary_map.shape} and '
                         f'{direction_map.shape}')
    table = np.asarray(directions, np.float32) * scale  # [D, 2]
    on_boundary = boundary_map == 1
    bins = np.where(on_boundary, direction_map, 0)
    if bins.min() < 0 or bins.max() >= len(table):
        raise ValueError(f'Expected direction bins in 0..{len(table) - 1} '
                         f'on the boundary, found {bins.min()}..'
                         f'{bins.max()}')
    offsets = table[bins].transpose(2, 0, 1)  # [2, H, W]
    return offsets * on_boundary[None]


def refine_label_map(label_map: np.ndarray,
                     offsets: np.ndarray,
                     ignore_index: int = 255) -> np.ndarray:
    """Give each pixel the label at its offset, by nearest-pixel lookup.

    Args:
        label_map (np.ndarray): ``[H, W]`` labels (any integer dtype).
        offsets (np.ndarray): ``[2, H, W]`` ``(dy, dx)`` in pixels, e.g.
            from :func:`direction_offsets`; rounded to the nearest pixel.
        ignore_index (int): A label never copied: a pixel whose target
            holds it keeps its own. Default: 255.

    Returns:
        np.ndarray: ``[H, W]``, ``label_map``'s dtype; its values are a
        subset of ``label_map``'s.
    """
    h, w = label_map.shape
    if offsets.shape != (2, h, w):
        raise ValueError(
            f'Expected offsets of shape (2, {h}, {w}), got {offsets.shape}')
    ys, xs = np.mgrid[0:h, 0:w]
    ty = ys + np.rint(offsets[0]).astype(np.int64)  # [H, W]
    tx = xs + np.rint(offsets[1]).astype(np.int64)
    inside = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
    ty, tx = np.where(inside, ty, ys), np.where(inside, tx, xs)
    moved = label_map[ty, tx]
    keep = ~inside | (moved == ignore_index)
    return np.where(keep, label_map, moved).astype(label_map.dtype)
