"""Boundary F-score: how well the predicted segment boundaries match the
ground truth's, within a tolerance of a few pixels.

mIoU hardly moves when boundaries improve (boundary pixels are a small
share of an image), so boundary refinement such as SegFix (Yuan et al.,
ECCV 2020, https://arxiv.org/abs/2007.04269) is judged with a boundary
measure as well. This one is the contour F-measure of Perazzi et al.
(DAVIS, CVPR 2016) computed per class and accumulated over a dataset:

- the boundary pixels of a label map are the pixels with a 4-neighbour of
  another label, pairs involving a pixel ignored in the ground truth left
  out; those of class ``c`` are the boundary pixels labelled ``c``;
- precision at width ``d``: the share of predicted class-``c`` boundary
  pixels within Euclidean distance ``d`` of a ground-truth one; recall the
  other way round; ``F = 2 P R / (P + R)``;
- the score is the mean F over the classes with ground-truth boundary
  pixels, in percent.

Shape shorthand in this module: H x W a label map, K classes, T widths.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Optional, Sequence

import cv2
import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.registry import METRICS

__all__ = ['BoundaryFScore', 'boundary_counts', 'boundary_f_scores']


def _boundary(label: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``[H, W]`` bool: pixels with a valid 4-neighbour of another label."""
    edge = np.zeros(label.shape, bool)
    for axis in (0, 1):
        a = [slice(None)] * 2
        b = [slice(None)] * 2
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        a, b = tuple(a), tuple(b)
        differs = (label[a] != label[b]) & valid[a] & valid[b]
        edge[a] |= differs
        edge[b] |= differs
    return edge


def _near(mask: np.ndarray) -> np.ndarray:
    """``[H, W]`` float32 distance of every pixel to the nearest pixel of
    ``mask`` (large where ``mask`` is empty)."""
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2,
                                 cv2.DIST_MASK_PRECISE)


def boundary_counts(pred: np.ndarray,
                    gt: np.ndarray,
                    num_classes: int,
                    widths: Sequence[float] = (1, 3, 5),
                    ignore_index: int = 255) -> np.ndarray:
    """Matched and total boundary pixels of one image, per width and class.

    Args:
        pred (np.ndarray): ``[H, W]`` predicted labels.
        gt (np.ndarray): ``[H, W]`` ground truth labels.
        num_classes (int): K; labels ``>= K`` other than ``ignore_index``
            are counted nowhere.
        widths (Sequence[float]): Tolerances in pixels. Default: (1, 3, 5).
        ignore_index (int): Ignored ground-truth label. Default: 255.

    Returns:
        np.ndarray: ``[T, 4, K]`` int64: predicted boundary pixels near a
        ground-truth one, predicted boundary pixels, ground-truth boundary
        pixels near a predicted one, ground-truth boundary pixels.
    """
    if pred.shape != gt.shape:
        raise ValueError(f'Expected prediction and ground truth of one '
                         f'shape, got {pred.shape} and {gt.shape}')
    valid = gt != ignore_index
    pred_edge = _boundary(pred, valid)
    gt_edge = _boundary(gt, valid)
    counts = np.zeros((len(widths), 4, num_classes), np.int64)
    for c in np.union1d(np.unique(pred[pred_edge]), np.unique(gt[gt_edge])):
        if not 0 <= c < num_classes:
            continue
        pred_c = pred_edge & (pred == c)  # [H, W]
        gt_c = gt_edge & (gt == c)
        to_gt, to_pred = _near(gt_c), _near(pred_c)
        for t, width in enumerate(widths):
            counts[t, :, c] = (np.count_nonzero(to_gt[pred_c] <= width),
                               np.count_nonzero(pred_c),
                               np.count_nonzero(to_pred[gt_c] <= width),
                               np.count_nonzero(gt_c))
    return counts


def boundary_f_scores(counts: np.ndarray) -> np.ndarray:
    """Per-width mean F-score (percent) of summed :func:`boundary_counts`.

    Args:
        counts (np.ndarray): ``[T, 4, K]``.

    Returns:
        np.ndarray: ``[T]``, the mean over the classes with ground-truth
        boundary pixels of the per-class F-score; NaN where there are none.
    """
    matched_pred, total_pred, matched_gt, total_gt = (
        counts[:, i].astype(np.float64) for i in range(4))
    with np.errstate(divide='ignore', invalid='ignore'):
        precision = np.where(total_pred > 0, matched_pred / total_pred, 0)
        recall = np.where(total_gt > 0, matched_gt / total_gt, 0)
        f = np.where(precision + recall > 0,
                     2 * precision * recall / (precision + recall), 0)
    scored = total_gt > 0  # [T, K]
    if not scored.any():
        return np.full(len(counts), np.nan)
    return 100 * (f * scored).sum(1) / scored.sum(1)


@METRICS.register_module()
class BoundaryFScore(BaseMetric):
    """The boundary F-score of ``pred_sem_seg`` (or ``pred_key``) against
    ``gt_sem_seg``.

    Reports ``bF@{d}`` (percent) for every width ``d``; use it beside
    ``IoUMetric``: ``val_evaluator = [dict(type='IoUMetric'),
    dict(type='BoundaryFScore')]``.

    Args:
        widths (Sequence[float]): Tolerances in pixels. Default: (1, 3, 5).
        ignore_index (int): Ignored ground-truth label. Default: 255.
        pred_key (str): The data-sample field scored, e.g.
            ``'pred_sem_seg_raw'`` (the unrefined labels of
            ``SegFixRefiner``). Default: 'pred_sem_seg'.
        collect_device (str): As ``BaseMetric``. Default: 'cpu'.
        prefix (str, optional): As ``BaseMetric``. Default: None.
    """

    def __init__(self,
                 widths: Sequence[float] = (1, 3, 5),
                 ignore_index: int = 255,
                 pred_key: str = 'pred_sem_seg',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.widths = tuple(widths)
        self.ignore_index = ignore_index
        self.pred_key = pred_key

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Count the boundary pixels of each sample."""
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            pred = sample[self.pred_key]['data'].squeeze(0).cpu().numpy()
            gt = sample['gt_sem_seg']['data'].squeeze(0).cpu().numpy()
            self.results.append(
                boundary_counts(pred, gt, num_classes, self.widths,
                                self.ignore_index))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """``bF@{d}`` for every width, from the summed counts."""
        scores = boundary_f_scores(np.sum(results, axis=0))
        metrics = OrderedDict(
            (f'bF@{width:g}', float(np.round(score, 2)))
            for width, score in zip(self.widths, scores))
        print_log(f'boundary F-score: {dict(metrics)}', logger='current')
        return metrics
