"""SegFix training targets from a label map, on the fly.

SegFix (Yuan et al., "SegFix: Model-Agnostic Boundary Refinement for
Segmentation", ECCV 2020, https://arxiv.org/abs/2007.04269) learns, for
every pixel, whether it lies on a boundary and, for boundary pixels, the
direction towards the interior of its own segment. The official code
(openseg.pytorch,
``lib/datasets/preprocess/cityscapes/dt_offset_generator.py``) precomputes
these from Cityscapes label ids into ``.mat`` files; here they are computed
from whatever ``gt_seg_map`` the pipeline holds, so any MMSeg dataset works
and geometric augmentations come first.

The definition is the reference's:

- per class ``c``, the distance transform ``D_c`` of its mask: the
  Euclidean distance of each pixel of ``c`` to the nearest pixel that is not
  ``c`` (ignored pixels included: they are another segment; the image
  border is not);
- a pixel is a boundary pixel when ``D_c <= boundary_width``;
- its direction is the gradient of ``D_c`` (the reference's 5x5 "Sobel"
  kernel ``k[j, i] = i / (i^2 + j^2)``), which points away from the nearest
  other segment, quantised to the 8 bins of :attr:`directions`.

One deliberate difference: the gradient is taken with replicated borders,
not the reference's zero padding, so that the image border does not bend
the direction of boundary pixels near it.

Shape shorthand in this module: ``H, W`` the label map's height and width.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

__all__ = ['GenerateSegFixTargets', 'direction_bins']

# The 8 bins as (dy, dx) steps, y down; bin i is centred on the angle
# atan2(dy, dx) = -180 + 45 * i degrees. The reference's
# ``label_to_vector_mapping[8]``.
DIRECTIONS: Tuple[Tuple[int, int], ...] = (
    (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1))
KERNEL_SIZE = 5  # the reference's ``--ksize`` default


def _gradient_kernels(size: int) -> Tuple[np.ndarray, np.ndarray]:
    """The reference's large "Sobel" kernels ``(k_y, k_x)``, ``[size, size]``:
    ``k_x[j, i] = i / (i^2 + j^2)`` with ``i, j`` measured from the centre."""
    r = size // 2
    j, i = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float32)
    norm = i * i + j * j
    norm[r, r] = 1  # the centre weight is 0 either way
    return j / norm, i / norm


def direction_bins(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Quantise vectors to the 8 bins of :data:`DIRECTIONS`.

    Bin ``i`` holds the angles in ``(-202.5 + 45 i, -157.5 + 45 i]``
    degrees (the reference's ``DTOffsetHelper.align_angle``); a zero vector
    has angle 0 (bin 4).

    Args:
        dy (np.ndarray): y components (down), any shape.
        dx (np.ndarray): x components, the same shape.

    Returns:
        np.ndarray: int64 bins in 0..7, the shape of ``dy``.
    """
    angle = np.degrees(np.arctan2(dy, dx))  # (-180, 180]
    bins = np.ceil((angle + 180) / 45 - 0.5).astype(np.int64)
    return bins % 8


@TRANSFORMS.register_module()
class GenerateSegFixTargets(BaseTransform):
    """Add SegFix's boundary and direction targets for ``gt_seg_map``.

    Place it after the geometric augmentations (resize, crop, flip), so the
    targets describe the crop the model sees, and pack with
    ``PackSegFixInputs``.

    Required Keys:

    - gt_seg_map (np.ndarray): ``[H, W]`` class ids.

    Added Keys:

    - gt_boundary_map (np.ndarray): ``[H, W]`` uint8: 1 on a boundary (within
      ``boundary_width`` pixels of another segment), 0 inside, 255 on ignored
      pixels.
    - gt_direction_map (np.ndarray): ``[H, W]`` int64: the bin (0..7, see
      :attr:`directions`) of the direction from a boundary pixel towards the
      interior of its segment; 255 where ``gt_boundary_map`` is not 1.

    Args:
        boundary_width (int): Largest distance (pixels, Euclidean) to another
            segment at which a pixel is a boundary pixel. Default: 5, the
            reference's ``dt_max_distance``.
        ignore_index (int): Label of ignored pixels. Default: 255.

    Attributes:
        directions (tuple[tuple[int, int]]): The 8 bins as ``(dy, dx)``
            steps, image coordinates with y down; the offset a refinement
            applies for bin ``i`` is ``scale * directions[i]``. Unit steps
            of the 8-neighbourhood (Chebyshev norm 1): the diagonals are
            ``(+-1, +-1)``, as in the reference.
    """

    directions = DIRECTIONS

    def __init__(self, boundary_width: int = 5, ignore_index: int = 255):
        super().__init__()
        if boundary_width < 1:
            raise ValueError(
                f'Expected boundary_width >= 1, got {boundary_width}')
        self.boundary_width = boundary_width
        self.ignore_index = ignore_index
        self._kernels = _gradient_kernels(KERNEL_SIZE)

    def transform(self, results: dict) -> dict:
        """Add ``gt_boundary_map`` and ``gt_direction_map``.

        Args:
            results (dict): The pipeline's results, with ``gt_seg_map``.

        Returns:
            dict: ``results`` with the two maps added.
        """
        seg = results['gt_seg_map']
        if seg.ndim != 2:
            raise ValueError(
                f'Expected gt_seg_map of shape [H, W], got {seg.shape}')
        boundary, direction = self.targets(seg)
        results['gt_boundary_map'] = boundary
        results['gt_direction_map'] = direction
        return results

    def targets(self, seg: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Compute the two maps for one label map.

        Args:
            seg (np.ndarray): ``[H, W]`` class ids.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``gt_boundary_map`` ``[H, W]``
            uint8 and ``gt_direction_map`` ``[H, W]`` int64.
        """
        ignored = seg == self.ignore_index
        boundary = np.zeros(seg.shape, np.uint8)
        dy = np.zeros(seg.shape, np.float32)
        dx = np.zeros(seg.shape, np.float32)
        k_y, k_x = self._kernels
        for c in np.unique(seg[~ignored]):
            mask = seg == c  # [H, W]
            if mask.all():
                continue  # a single segment: no boundary anywhere
            # Distance of each pixel of c to the nearest pixel that is not c
            # (0 outside c); the image border is not a segment border.
            depth = cv2.distanceTransform(
                mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            edge = mask & (depth <= self.boundary_width)
            if not edge.any():
                continue
            # filter2D correlates, as the reference's F.conv2d does.
            g_y = cv2.filter2D(depth, -1, k_y, borderType=cv2.BORDER_REPLICATE)
            g_x = cv2.filter2D(depth, -1, k_x, borderType=cv2.BORDER_REPLICATE)
            boundary[edge] = 1
            dy[edge] = g_y[edge]
            dx[edge] = g_x[edge]
        direction = np.full(seg.shape, 255, np.int64)
        on_edge = boundary == 1
        direction[on_edge] = direction_bins(dy[on_edge], dx[on_edge])
        boundary[ignored] = 255
        return boundary, direction

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'boundary_width={self.boundary_width}, '
                f'ignore_index={self.ignore_index})')
