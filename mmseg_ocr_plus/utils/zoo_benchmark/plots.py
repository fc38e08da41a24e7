"""Per-class pictures as RGB arrays, for an MMEngine visualizer's
``add_image``: a grouped per-class IoU bar chart and a row-normalised
confusion matrix (as MMSeg's ``tools/analysis_tools/confusion_matrix.py``
draws it). Matplotlib draws off-screen (Agg), without ``pyplot``'s global
state."""
from typing import Mapping, Optional, Sequence

import numpy as np

__all__ = ['render_confusion_matrix', 'render_per_class_iou']


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _to_rgb(figure) -> np.ndarray:
    figure.tight_layout()
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def render_per_class_iou(series: Mapping[str, Mapping[str, Optional[float]]],
                         classes: Sequence[str],
                         title: str = 'Per-class IoU (%)') -> np.ndarray:
    """Grouped bars: per class, one bar per series (model or source).

    Args:
        series (Mapping[str, Mapping[str, float]]): Label to per-class IoU
            in percent; a missing class or ``None``/``nan`` draws no bar.
        classes (Sequence[str]): The classes, in order.
        title (str): The title. Defaults to ``'Per-class IoU (%)'``.

    Returns:
        np.ndarray: uint8 RGB ``[H, W, 3]``.
    """
    if not series:
        raise ValueError('Expected at least one series of IoUs, got none')
    figure = _figure(max(6.0, 0.45 * len(classes) * max(1, len(series))),
                     4.5)
    axes = figure.add_subplot()
    width = 0.8 / len(series)
    x = np.arange(len(classes))
    for i, (label, ious) in enumerate(series.items()):
        values = [ious.get(c) for c in classes]
        values = [np.nan if v is None else float(v) for v in values]
        axes.bar(x + (i - (len(series) - 1) / 2) * width, values, width,
                 label=label)
    axes.set_xticks(x, list(classes), rotation=45, ha='right')
    axes.set_ylim(0, 100)
    axes.set_ylabel('IoU (%)')
    axes.set_title(title)
    axes.legend(fontsize='small')
    axes.grid(axis='y', alpha=0.3)
    return _to_rgb(figure)


def render_confusion_matrix(matrix: np.ndarray,
                            classes: Sequence[str],
                            title: str = 'Normalized confusion matrix (%)'
                            ) -> np.ndarray:
    """The matrix, each ground-truth row normalised to 100 %.

    Args:
        matrix (np.ndarray): ``[K, K]`` pixel counts, rows ground truth.
        classes (Sequence[str]): K class names.
        title (str): The title.

    Returns:
        np.ndarray: uint8 RGB ``[H, W, 3]``.
    """
    k = len(classes)
    if matrix.shape != (k, k):
        raise ValueError(f'Expected a {k}x{k} matrix for {k} classes, got '
                         f'{matrix.shape}')
    rows = matrix.sum(1, keepdims=True)
    with np.errstate(divide='ignore', invalid='ignore'):
        percent = np.where(rows > 0, matrix / rows * 100, np.nan)
    size = max(5.0, 0.45 * k + 2)
    figure = _figure(size, size)
    axes = figure.add_subplot()
    image = axes.imshow(percent, cmap='OrRd', vmin=0, vmax=100)
    figure.colorbar(image, ax=axes, fraction=0.046)
    axes.set_xticks(range(k), list(classes), rotation=45, ha='right')
    axes.set_yticks(range(k), list(classes))
    axes.set_xlabel('Prediction')
    axes.set_ylabel('Ground truth')
    axes.set_title(title)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if not np.isnan(percent[i, j]) and percent[i, j] >= 0.5:
                    axes.text(j, i, f'{percent[i, j]:.0f}', ha='center',
                              va='center', fontsize=6)
    return _to_rgb(figure)
