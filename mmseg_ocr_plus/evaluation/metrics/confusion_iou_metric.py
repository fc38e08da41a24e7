"""MMSeg's ``IoUMetric`` computed from a confusion matrix, which it keeps.

The summary (``aAcc``, ``mIoU``, ...) and the logged per-class table are
``IoUMetric``'s own: the per-class areas it sums (intersection, union,
prediction, label) are read off the accumulated K x K matrix and handed to
``IoUMetric.compute_metrics``. After an evaluation the matrix and the
per-class IoU are kept on the metric for the caller
(``tools/analysis_tools/zoo_benchmark.py``), and with ``plot=True`` a
per-class IoU bar chart and the row-normalised confusion matrix go to the
current visualizer's backends (the runner's ``SegLocalVisualizer``:
``vis_data/vis_image/`` with ``LocalVisBackend``). From ``tools/test.py``::

    --cfg-options test_evaluator.type=ConfusionIoUMetric \\
        test_evaluator.plot=True
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.visualization import Visualizer
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS
from mmseg.visualization import SegLocalVisualizer

__all__ = ['ConfusionIoUMetric', 'confusion_matrix']


def confusion_matrix(pred: torch.Tensor, label: torch.Tensor,
                     num_classes: int, ignore_index: int) -> np.ndarray:
    """Pixel counts ``[K, K]``: row = ground truth, column = prediction.

    Args:
        pred (torch.Tensor): Predicted class ids, any shape.
        label (torch.Tensor): Ground truth, same shape; pixels equal to
            ``ignore_index`` or outside ``[0, num_classes)`` are left out.
        num_classes (int): K.
        ignore_index (int): The ignored label.

    Returns:
        np.ndarray: int64 ``[K, K]``.
    """
    if pred.shape != label.shape:
        raise ValueError(f'Expected prediction and label of one shape, got '
                         f'{tuple(pred.shape)} and {tuple(label.shape)}')
    mask = (label != ignore_index) & (label >= 0) & (label < num_classes)
    index = label[mask].long() * num_classes + pred[mask].long()
    counts = torch.bincount(index, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes).cpu().numpy()


@METRICS.register_module()
class ConfusionIoUMetric(IoUMetric):
    """``IoUMetric`` that accumulates (and can draw) the confusion matrix.

    Args:
        plot (bool): Draw the per-class IoU chart and the confusion matrix
            through the current visualizer after each evaluation.
            Defaults to False.
        pred_key (str): The data-sample field scored, e.g.
            ``'pred_sem_seg_raw'`` (the unrefined labels of
            ``SegFixRefiner``). Defaults to 'pred_sem_seg'.
        **kwargs: ``IoUMetric``'s arguments; ``output_dir`` and
            ``format_only`` are not supported (they need no ground truth).

    Attributes:
        confusion_matrix (np.ndarray, optional): ``[K, K]`` of the last
            evaluation.
        per_class_iou (dict, optional): Class name to IoU in percent
            (``nan`` for a class absent from labels and predictions).
    """

    def __init__(self,
                 plot: bool = False,
                 pred_key: str = 'pred_sem_seg',
                 **kwargs) -> None:
        for key in ('output_dir', 'format_only'):
            if kwargs.get(key):
                raise ValueError(f'Expected no {key} for ConfusionIoUMetric '
                                 f'(use IoUMetric), got {kwargs[key]!r}')
        super().__init__(**kwargs)
        self.plot = plot
        self.pred_key = pred_key
        self.confusion_matrix: Optional[np.ndarray] = None
        self.per_class_iou: Optional[Dict[str, float]] = None

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Add each sample's confusion matrix to ``self.results``."""
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            pred = sample[self.pred_key]['data'].squeeze()
            label = sample['gt_sem_seg']['data'].squeeze().to(pred)
            self.results.append(
                confusion_matrix(pred, label, num_classes, self.ignore_index))

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """``IoUMetric``'s metrics from the summed confusion matrix."""
        matrix = np.sum(results, axis=0)
        intersect = torch.from_numpy(np.diag(matrix).copy()).double()
        area_label = torch.from_numpy(matrix.sum(1)).double()
        area_pred = torch.from_numpy(matrix.sum(0)).double()
        union = area_label + area_pred - intersect
        metrics = super().compute_metrics(
            [(intersect, union, area_pred, area_label)])
        self.confusion_matrix = matrix
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = np.round(intersect.numpy() / union.numpy() * 100, 2)
        self.per_class_iou = dict(
            zip(self.dataset_meta['classes'], iou.tolist()))
        if self.plot:
            self.draw()
        return metrics

    def draw(self) -> None:
        """Send the bar chart and the matrix to the current visualizer."""
        from ...utils.zoo_benchmark.plots import (
            render_confusion_matrix,
            render_per_class_iou,
        )
        # ManagerMixin keeps instances per class: MMSeg's runners build a
        # SegLocalVisualizer (as SegVisualizationHook finds it).
        try:
            visualizer = SegLocalVisualizer.get_current_instance()
        except RuntimeError:  # none built: a plain one, if any
            visualizer = Visualizer.get_current_instance()
        classes = list(self.dataset_meta['classes'])
        visualizer.add_image(
            'per_class_iou',
            render_per_class_iou({'measured': self.per_class_iou}, classes))
        visualizer.add_image(
            'confusion_matrix',
            render_confusion_matrix(self.confusion_matrix, classes))
