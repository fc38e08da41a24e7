"""Per-class pixel counts of a segmentation training set, and class weights
from them, for ``ClassStatisticsHook`` and
``tools/analysis_tools/class_statistics.py``.

Weighting schemes: ``inverse_log`` of ENet (Paszke et al.,
https://arxiv.org/abs/1606.02147) and ``median_frequency`` (Eigen & Fergus,
"Predicting Depth, Surface Normals and Semantic Labels with a Common
Multi-Scale Convolutional Architecture", https://arxiv.org/abs/1411.4734).

Shape shorthand: ``K`` classes, ``V`` label values (256 for 8-bit maps).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import mmcv
import numpy as np
from mmcv.transforms import LoadAnnotations
from mmengine import fileio
from mmengine.dataset import ClassBalancedDataset, ConcatDataset, RepeatDataset
from mmengine.utils import track_iter_progress
from prettytable import PrettyTable
from torch.utils.data import ConcatDataset as TorchConcatDataset

__all__ = [
    'COUNT_KEYS', 'SCHEMES', 'ClassStatisticsError', 'base_datasets',
    'check_options', 'class_frequencies', 'compute_class_weights',
    'count_class_pixels', 'format_table', 'label_samples', 'rarest_classes'
]

SCHEMES = ('none', 'inverse_log', 'median_frequency')
COUNT_KEYS = ('pixel_counts', 'image_counts', 'image_pixel_counts')  # [K]


class ClassStatisticsError(ValueError):
    """A training set or option the class statistics cannot use; the
    message names the file or option."""


def base_datasets(dataset: Any) -> List[Any]:
    """The datasets inside MMEngine's and PyTorch's dataset wrappers; a
    ``RepeatDataset`` or ``ClassBalancedDataset`` gives its dataset once."""
    if isinstance(dataset, (ConcatDataset, TorchConcatDataset)):
        return [d for sub in dataset.datasets for d in base_datasets(sub)]
    if isinstance(dataset, (RepeatDataset, ClassBalancedDataset)):
        return base_datasets(dataset.dataset)
    return [dataset]


def label_samples(dataset: Any) -> List[Tuple[str, bool, Optional[dict]]]:
    """``(seg_map_path, reduce_zero_label, label_map)`` of every image of
    ``dataset`` (each image once), from its data info."""
    samples = []
    for base in base_datasets(dataset):
        for index in range(len(base)):
            info = base.get_data_info(index)
            if not info.get('seg_map_path'):
                raise ClassStatisticsError(
                    f'{type(base).__name__} (data_root '
                    f"{getattr(base, 'data_root', None)!r}): expected every "
                    f"sample to have a label map ('seg_map_path'), sample "
                    f'{index} has none')
            label_map = info.get('label_map') or {}
            samples.append((info['seg_map_path'],
                            bool(info.get('reduce_zero_label')),
                            {int(k): int(v)
                             for k, v in label_map.items()} or None))
    return samples


def count_class_pixels(dataset: Any,
                       part: slice = slice(None),
                       progress: bool = False) -> Dict[str, Any]:
    """Count the labelled pixels of each class in a built MMSeg dataset.

    Label maps are read and mapped (``reduce_zero_label``, ``label_map``) as
    the pipeline's ``LoadAnnotations`` does, no other transform; pixels of
    the ``ignore_index`` (255 by default) are left out.

    Args:
        dataset: A built MMSeg dataset, maybe wrapped (:func:`base_datasets`);
            its ``metainfo['classes']`` are the ``K`` classes.
        part (slice): Which of :func:`label_samples`, e.g. ``slice(rank,
            None, world_size)``. Defaults to all.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        dict: ``classes`` (names), ``num_classes``, ``ignore_index``,
        ``num_images`` (label maps counted) and the ``[K]`` int lists
        ``pixel_counts``, ``image_counts`` (label maps holding the class) and
        ``image_pixel_counts`` (labelled pixels of those label maps).
    """
    bases = base_datasets(dataset)
    classes = (getattr(bases[0], 'metainfo', None) or {}).get('classes')
    if not classes:
        raise ClassStatisticsError(f'{type(bases[0]).__name__}: expected '
                                   f'metainfo["classes"], got {classes!r}')
    num_classes = len(classes)
    ignore = int(getattr(bases[0], 'ignore_index', 255))
    # The pipeline's LoadAnnotations, else MMSeg's defaults.
    loader = next((t for b in bases for t in b.pipeline.transforms
                   if isinstance(t, LoadAnnotations)), bases[0])
    backend = getattr(loader, 'imdecode_backend', 'pillow')
    backend_args = getattr(loader, 'backend_args', None)
    samples = label_samples(dataset)[part]
    totals = np.zeros((3, num_classes), np.int64)  # [3, K], as COUNT_KEYS
    for path, reduce_zero_label, label_map in (
            track_iter_progress(samples) if progress else samples):
        label = _read_label(path, backend, backend_args)
        raw = np.bincount(label.ravel(), minlength=256)  # [V]
        lut = _label_lut(reduce_zero_label, label_map)  # [V]
        mapped = np.bincount(lut, raw, num_classes).astype(np.int64)
        if 0 <= ignore < mapped.size:  # [max(V, K)] pixels of each value
            mapped[ignore] = 0
        beyond = np.flatnonzero(mapped[num_classes:]) + num_classes
        if beyond.size:
            raise ClassStatisticsError(
                f'{path}: expected label values < num_classes={num_classes} '
                f'or the ignore index {ignore}, got {beyond.tolist()} ' +
                ('(after reduce_zero_label/label_map)'
                 if reduce_zero_label or label_map else '(as stored)'))
        pixels = mapped[:num_classes]  # [K]
        totals += np.stack([pixels, pixels > 0, (pixels > 0) * pixels.sum()])
    return dict(classes=[str(c) for c in classes], num_classes=num_classes,
                ignore_index=ignore, num_images=len(samples),
                **dict(zip(COUNT_KEYS, totals.tolist())))


def _read_label(path: str, backend: str,
                backend_args: Optional[dict]) -> np.ndarray:
    """An 8-bit label map ``[H, W]``, read as ``LoadAnnotations`` does."""
    try:
        label = mmcv.imfrombytes(
            fileio.get(path, backend_args=backend_args),
            flag='unchanged',
            backend=backend)
        if label is None or label.squeeze().ndim != 2:
            raise ValueError(f'not a single-channel image that the '
                             f'{backend!r} backend decodes')
    except Exception as err:
        raise ClassStatisticsError(
            f'{path}: expected a readable label map, got '
            f'{type(err).__name__}: {str(err).splitlines()[0]}') from err
    return label.squeeze().astype(np.uint8)


def _label_lut(reduce_zero_label: bool,
               label_map: Optional[Dict[int, int]]) -> np.ndarray:
    """``[V]`` where ``LoadAnnotations`` maps each 8-bit label value."""
    lut = np.arange(256, dtype=np.int64)
    if reduce_zero_label:  # 0 -> 255, v -> v - 1, 255 stays 255
        lut = np.where((lut == 0) | (lut == 255), 255, lut - 1)
    mapped = lut.copy()  # every replacement sees the unmapped values
    for old_id, new_id in (label_map or {}).items():
        mapped[lut == old_id] = new_id
    return mapped


def check_options(scheme: str, num_rare_classes: int = 0) -> None:
    """Raise :class:`ClassStatisticsError` for an unknown ``scheme`` or a
    ``num_rare_classes`` that is not an int >= 0."""
    if scheme not in SCHEMES:
        raise ClassStatisticsError(
            f'expected scheme to be one of '
            f'{", ".join(repr(s) for s in SCHEMES)}, got {scheme!r}')
    if type(num_rare_classes) is not int or num_rare_classes < 0:
        raise ClassStatisticsError(f'expected num_rare_classes to be an int '
                                   f'>= 0, got {num_rare_classes!r}')


def class_frequencies(counts: Dict[str, Any]) -> np.ndarray:
    """``[K]`` share of each class among the labelled pixels."""
    pixels = np.asarray(counts['pixel_counts'], np.float64)  # [K]
    if not pixels.sum():
        raise ClassStatisticsError(
            f'expected labelled pixels in the training set, got none in its '
            f'{counts["num_images"]} label maps (all ignore index '
            f'{counts["ignore_index"]})')
    return pixels / pixels.sum()


def compute_class_weights(counts: Dict[str, Any],
                          scheme: str,
                          enet_c: float = 1.02) -> Optional[List[float]]:
    """Class weights from the counts of :func:`count_class_pixels`.

    ``inverse_log`` (ENet, Sec. 5.2): ``w_c = 1 / ln(enet_c + p_c)``,
    ``p_c`` the share of class ``c`` among all labelled pixels.
    ``median_frequency`` (Eigen & Fergus, Sec. 4.3): ``w_c = median(f) /
    f_c``, ``f_c`` = pixels of ``c`` / labelled pixels of the images holding
    ``c``, the median over the classes present. Absent classes get 0.

    Args:
        counts (dict): From :func:`count_class_pixels`.
        scheme (str): One of :data:`SCHEMES`.
        enet_c (float): The ``c`` of ``inverse_log``, > 1. Defaults to 1.02.

    Returns:
        list[float], optional: ``K`` weights; ``None`` for ``'none'``.
    """
    check_options(scheme)
    shares = class_frequencies(counts)  # [K]; raises without labelled pixels
    if scheme == 'none':
        return None
    present = shares > 0
    weights = np.zeros_like(shares)
    if scheme == 'inverse_log':
        weights[present] = 1.0 / np.log(enet_c + shares[present])
    else:  # median_frequency
        freq = (np.asarray(counts['pixel_counts'], np.float64)[present] /
                np.asarray(counts['image_pixel_counts'], np.float64)[present])
        weights[present] = np.median(freq) / freq
    return [float(w) for w in weights]


def rarest_classes(counts: Dict[str, Any], num: int) -> List[int]:
    """The ``num`` classes with the fewest pixels among those present
    (ties: lower id first)."""
    pixels = counts['pixel_counts']
    present = [i for i, n in enumerate(pixels) if n > 0]
    return sorted(present, key=lambda i: (pixels[i], i))[:num]


def format_table(counts: Dict[str, Any],
                 weights: Optional[List[float]] = None,
                 scheme: str = 'none') -> str:
    """The counts (and weights) as a titled table, one row a class."""
    table = PrettyTable(
        ['id', 'class', 'pixels', 'frequency', 'images', 'weight'], align='r')
    table.align['class'] = 'l'
    rows = zip(counts['classes'], counts['pixel_counts'],
               class_frequencies(counts), counts['image_counts'])
    for i, (name, pixels, share, images) in enumerate(rows):
        weight = '-' if weights is None else f'{weights[i]:.4f}'
        table.add_row([i, name, pixels, f'{share:.3e}', images,
                       weight + ('' if pixels else ' (absent)')])
    return (f'Class statistics of the training set: {counts["num_images"]} '
            f'images, {sum(counts["pixel_counts"])} labelled pixels, scheme '
            f'{scheme!r}\n{table.get_string()}')
