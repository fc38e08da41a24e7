"""``ConfusionIoUMetric`` gives ``IoUMetric``'s figures, keeps the
confusion matrix and draws it through the visualizer's backends."""
import cv2
import numpy as np
import pytest
import torch
from mmseg.evaluation import IoUMetric
from mmseg.visualization import SegLocalVisualizer

from mmseg_ocr_plus.evaluation import ConfusionIoUMetric, confusion_matrix

CLASSES = ('road', 'car', 'sky', 'tree')


def samples(seed: int, n: int = 3) -> list:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        label = torch.randint(0, len(CLASSES) - 1, (1, 8, 12), generator=g)
        label[0, 0, :4] = 255  # ignored
        pred = torch.randint(0, len(CLASSES) - 1, (1, 8, 12), generator=g)
        out.append(
            dict(pred_sem_seg=dict(data=pred), gt_sem_seg=dict(data=label)))
    return out


def evaluate(metric, data) -> dict:
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, data)
    return metric.evaluate(len(data))


def test_confusion_matrix_counts():
    label = torch.tensor([[0, 0, 1], [2, 255, 1]])
    pred = torch.tensor([[0, 1, 1], [0, 2, 1]])
    expected = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    np.testing.assert_array_equal(
        confusion_matrix(pred, label, 3, 255), expected)
    with pytest.raises(ValueError, match='Expected prediction and label'):
        confusion_matrix(pred[:1], label, 3, 255)


def test_same_figures_as_iou_metric():
    data = samples(0)
    ours = ConfusionIoUMetric(iou_metrics=['mIoU', 'mFscore'])
    expected = evaluate(IoUMetric(iou_metrics=['mIoU', 'mFscore']), data)
    # float64 areas here, float32 in IoUMetric: equal to the printed 0.01.
    assert evaluate(ours, data) == pytest.approx(expected, abs=0.01)
    # Kept: the matrix of every labelled pixel, per-class IoU off it.
    labels = torch.cat([d['gt_sem_seg']['data'].flatten() for d in data])
    assert ours.confusion_matrix.sum() == int((labels != 255).sum())
    assert set(ours.per_class_iou) == set(CLASSES)
    assert np.isnan(ours.per_class_iou['tree'])  # never seen at all
    matrix = ours.confusion_matrix
    iou_car = matrix[1, 1] / (matrix[1].sum() + matrix[:, 1].sum() -
                              matrix[1, 1])
    assert ours.per_class_iou['car'] == pytest.approx(
        iou_car * 100, abs=0.005)


def test_plots_go_to_the_visualizer(tmp_path):
    SegLocalVisualizer.get_instance(
        'test_confusion_iou_metric',
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path))
    evaluate(ConfusionIoUMetric(plot=True), samples(1))
    for name in ('per_class_iou_0.png', 'confusion_matrix_0.png'):
        image = cv2.imread(str(tmp_path / 'vis_data/vis_image' / name))
        assert image is not None and image.shape[0] > 100, name


def test_rejects_output_dir():
    with pytest.raises(ValueError, match='Expected no output_dir'):
        ConfusionIoUMetric(output_dir='preds')
