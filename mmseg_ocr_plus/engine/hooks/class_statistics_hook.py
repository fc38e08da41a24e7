"""Per-class pixel statistics of the training set, and class weights for the
cross-entropy losses derived from them.

Weighting schemes:

- ``inverse_log``: ENet, Paszke et al., "ENet: A Deep Neural Network
  Architecture for Real-Time Semantic Segmentation",
  https://arxiv.org/abs/1606.02147 (Sec. 5.2).
- ``median_frequency``: median frequency balancing, Eigen & Fergus,
  "Predicting Depth, Surface Normals and Semantic Labels with a Common
  Multi-Scale Convolutional Architecture", https://arxiv.org/abs/1411.4734
  (Sec. 4.3).

Shape shorthand in this module: ``K`` classes, ``N`` pixels of a label
map, ``V = 256`` possible values of an 8-bit label map.
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import LoadAnnotations
from mmengine import fileio
from mmengine.dataset import (
    ClassBalancedDataset,
    ConcatDataset,
    RepeatDataset,
)
from mmengine.dist import (
    all_gather_object,
    broadcast_object_list,
    get_dist_info,
    get_rank,
    is_main_process,
)
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.loops import _InfiniteDataloaderIterator
from mmengine.utils import ProgressBar
from mmseg.models.losses import CrossEntropyLoss
from mmseg.registry import HOOKS
from torch import nn
from torch.utils.data import ConcatDataset as TorchConcatDataset
from torch.utils.data import DataLoader

from ...utils.compat import ignore_safe_cross_entropy
from ...utils.preflight import InvalidInputError

__all__ = [
    'CACHE_VERSION', 'ClassStatisticsError', 'ClassStatisticsHook',
    'SCHEMES', 'compute_class_weights'
]

SCHEMES = ('none', 'inverse_log', 'median_frequency')
CACHE_VERSION = 1  # bump when the counting or the cache layout changes
PLOT_NAME = 'class_statistics.png'
# ``checkpoint['meta']`` keys; the values are plain Python types only, so
# that ``torch.load(weights_only=True)`` loads them.
META_STATISTICS = 'class_statistics'
META_WEIGHTS = 'class_weights'
META_SCHEME = 'class_weight_scheme'


class ClassStatisticsError(InvalidInputError, ValueError):
    """A training set or option that :class:`ClassStatisticsHook` cannot
    use. ``tools/train.py`` prints it as one line, without a traceback."""


def cache_file_name(fingerprint: str) -> str:
    """Name of the cache file for a dataset fingerprint.

    Args:
        fingerprint (str): The sha1 hex digest of the dataset.

    Returns:
        str: ``class_statistics_<first 16 hex digits>.json``.
    """
    return f'class_statistics_{fingerprint[:16]}.json'


def compute_class_weights(statistics: Dict[str, Any],
                          scheme: str,
                          enet_c: float = 1.02) -> Optional[List[float]]:
    """Class weights from the pixel statistics of a training set.

    Frequencies count labelled pixels only (ignored pixels are not part of
    what the loss sees). A class absent from the training set gets weight
    0: no pixel has it as its target, so its weight never reaches the loss
    (with random crops, none either), and 0 shows that it is absent.

    Args:
        statistics (dict): With ``pixel_counts`` (pixels of each class) and
            ``image_pixel_counts`` (labelled pixels of the images where the
            class appears), both of length ``K``.
        scheme (str): One of :data:`SCHEMES`.
        enet_c (float): The ``c`` of ``inverse_log``. Defaults to 1.02.

    Returns:
        list[float], optional: ``K`` weights; ``None`` for ``'none'``.

    Raises:
        ClassStatisticsError: For an unknown scheme.
    """
    _check_scheme(scheme)
    if scheme == 'none':
        return None
    pixels = np.asarray(statistics['pixel_counts'], dtype=np.float64)  # [K]
    present = pixels > 0
    weights = np.zeros_like(pixels)
    if scheme == 'inverse_log':
        # w = 1 / ln(c + p): p is the class's share of all labelled pixels.
        share = pixels / pixels.sum()
        weights[present] = 1.0 / np.log(enet_c + share[present])
    else:  # median_frequency
        # freq = pixels of c / labelled pixels of the images where c is;
        # w = median(freq) / freq, the median over the classes present.
        image_pixels = np.asarray(
            statistics['image_pixel_counts'], dtype=np.float64)
        freq = pixels[present] / image_pixels[present]
        weights[present] = np.median(freq) / freq
    return [float(w) for w in weights]


def _check_scheme(scheme: str) -> None:
    """Raise :class:`ClassStatisticsError` for an unknown scheme name."""
    if scheme not in SCHEMES:
        raise ClassStatisticsError(
            f'ClassStatisticsHook: expected scheme to be one of '
            f'{", ".join(repr(s) for s in SCHEMES)}, got {scheme!r}')


def _base_datasets(dataset: Any) -> List[Any]:
    """The datasets inside the dataset wrappers of MMEngine and PyTorch
    (a ``RepeatDataset`` or ``ClassBalancedDataset`` counts its images once:
    the statistics describe the label maps, not the sampling)."""
    if isinstance(dataset, (ConcatDataset, TorchConcatDataset)):
        return [d for sub in dataset.datasets for d in _base_datasets(sub)]
    if isinstance(dataset, (RepeatDataset, ClassBalancedDataset)):
        return _base_datasets(dataset.dataset)
    return [dataset]


def _pipeline_transforms(dataset: Any) -> List[Any]:
    """The top-level transforms of a dataset's pipeline (``Compose``)."""
    pipeline = getattr(dataset, 'pipeline', None)
    return list(getattr(pipeline, 'transforms', None) or [])


def _label_lut(reduce_zero_label: bool,
               label_map: Optional[Dict[int, int]]) -> np.ndarray:
    """Where each 8-bit label value ends up after ``reduce_zero_label`` and
    ``label_map``, as MMSeg's ``LoadAnnotations`` maps them.

    Returns:
        np.ndarray: ``[V]`` int64 lookup table.
    """
    lut = np.arange(256, dtype=np.int64)
    if reduce_zero_label:  # 0 -> 255, v -> v - 1, 255 stays 255
        lut = np.where((lut == 0) | (lut == 255), 255, lut - 1)
    if label_map:
        mapped = lut.copy()  # all replacements see the unmapped values
        for old_id, new_id in label_map.items():
            mapped[lut == int(old_id)] = int(new_id)
        lut = mapped
    return lut


class _Sample:
    """What the counting needs from one data info.

    Args:
        path (str): The label map.
        reduce_zero_label (bool): From the data info.
        label_map (dict, optional): From the data info.
    """

    def __init__(self, path: str, reduce_zero_label: bool,
                 label_map: Optional[Dict[int, int]]) -> None:
        self.path = path
        self.reduce_zero_label = bool(reduce_zero_label)
        self.label_map = ({int(k): int(v)
                           for k, v in label_map.items()}
                          if label_map else None)

    def key(self) -> list:
        """Plain-type description for the fingerprint, with the file's size
        and modification time (``None`` for a path that is not local)."""
        size = mtime = None
        if osp.isfile(self.path):
            stat = os.stat(self.path)
            size, mtime = stat.st_size, stat.st_mtime_ns
        label_map = sorted(self.label_map.items()) if self.label_map else None
        return [self.path, size, mtime, self.reduce_zero_label, label_map]


@HOOKS.register_module()
class ClassStatisticsHook(Hook):
    """Count the pixels of each class in the training set before training;
    log them, plot them and optionally weight the cross-entropy losses.

    In ``before_train``, rank 0 reads every label map of the training set
    once (no pipeline, no augmentation; ``reduce_zero_label`` and
    ``label_map`` of each data info are applied as MMSeg's
    ``LoadAnnotations`` does, and ``dataset.ignore_index``, 255 by default,
    is left out), with a progress bar on stdout. Dataset wrappers
    (``ConcatDataset``, ``RepeatDataset``, ``ClassBalancedDataset``) are
    looked through; repeated images count once. The counts reach the other
    ranks with ``broadcast_object_list``, so every rank applies the same
    weights; only rank 0 writes files and logs.

    **Cache.** The counts are saved as JSON to
    ``<cache_dir>/class_statistics_<fingerprint[:16]>.json`` (written to a
    temporary file first, then renamed). The fingerprint is the sha1 of the
    label map paths with their sizes and modification times, each sample's
    ``reduce_zero_label`` and ``label_map``, ``num_classes``, the ignore
    index and :data:`CACHE_VERSION`. A resumed run, or any run with the same
    cache dir and unchanged labels, loads the file instead of counting; the
    log says which. Otherwise, counts saved in a checkpoint that is resumed
    or loaded (``load_from``) are used when their fingerprint matches.

    **Outputs.** A table (class, pixels, frequency, images, weight) in the
    log, and ``<work_dir>/class_statistics.png``: the pixel frequencies on a
    log scale and, with a scheme, the weights.

    **Weights.** ``'inverse_log'`` (ENet): ``w_c = 1 / ln(enet_c + p_c)``,
    ``p_c`` the share of class ``c`` among all labelled pixels.
    ``'median_frequency'`` (Eigen & Fergus): ``f_c`` = pixels of ``c`` /
    labelled pixels of the images where ``c`` appears, ``w_c = median(f) /
    f_c``, the median over the classes present. A class absent from the
    training set gets weight 0 (no target pixel has it, so its weight never
    reaches the loss; 0 makes the absence visible). The weights are not
    normalised: MMSeg's cross-entropy divides by the summed weights of the
    target pixels, so a common factor cancels, and unnormalised weights
    keep the published scales (the median class gets 1 under median
    frequency balancing).

    They are set as ``class_weight`` on every MMSeg ``CrossEntropyLoss``
    (softmax, i.e. neither ``use_sigmoid`` nor ``use_mask``) in
    ``loss_decode`` of each decode head (a ``ModuleList`` of heads for
    cascade models) and auxiliary head, replacing a configured
    ``class_weight`` (with a warning); other losses are skipped with a
    warning. (MMSeg 1.2.2's cross-entropy fails on ignored pixels once
    class weights are set; importing ``mmseg_ocr_plus`` fixes that, see
    :mod:`mmseg_ocr_plus.utils.compat`, and a loss built before that import
    gets the fixed function here.) ``'none'`` leaves the losses as
    configured. The weights set on each loss are logged.

    **Checkpoints.** ``before_save_checkpoint`` stores, as plain Python
    types, ``meta['class_weights']`` (list of floats, or ``None`` for
    ``'none'``), ``meta['class_weight_scheme']`` and
    ``meta['class_statistics']`` (counts and fingerprint). After a resume
    the weights follow the current config and counts; a difference from
    the checkpoint's weights (another scheme, changed labels) is logged as
    a warning.

    **Rare classes.** With ``num_rare_classes > 0``, the
    ``num_rare_classes`` classes with the fewest pixels among those present
    (ties: lower id first) go to ``set_rare_classes(ids)`` of every
    transform in the train pipeline(s) that has that method (e.g.
    ``ClassAwareRandomCrop``). ``IterBasedTrainLoop`` creates its data
    iterator, and with ``num_workers > 0`` starts the worker processes with
    their copies of the dataset, when it is built, before ``before_train``;
    so after changing the transforms the hook restarts that iterator (the
    workers of persistent loaders included). An ``EpochBasedTrainLoop``
    starts its workers in each epoch, after ``before_train``.

    **Priority.** ``'ABOVE_NORMAL'``: after MMEngine's ``RuntimeInfoHook``
    (``VERY_HIGH``) and before hooks of the default ``NORMAL`` priority, so
    that the losses and transforms are set before other custom hooks see
    them in ``before_train``. A ``priority`` key in the hook's config
    overrides it, as for any MMEngine hook.

    Args:
        scheme (str): ``'none'``, ``'inverse_log'`` or
            ``'median_frequency'``. Defaults to ``'none'``.
        enet_c (float): The ``c`` of ``'inverse_log'``; it bounds the
            weights by ``1 / ln(c)``. Defaults to 1.02 (ENet).
        num_rare_classes (int): How many of the least frequent classes to
            pass to ``set_rare_classes`` transforms. Defaults to 0 (none).
        plot (bool): Write the bar chart. Defaults to True.
        cache_dir (str, optional): Where the counts are cached. Defaults to
            None: ``runner.work_dir``.

    Raises:
        ClassStatisticsError: A ``ValueError`` for an unknown ``scheme``, a
            bad ``enet_c`` or ``num_rare_classes``; in ``before_train`` for
            a training set without label maps or labelled pixels, a label
            value ``>= num_classes`` that is not the ignore index, an
            unreadable label map, or heads and dataset that disagree on the
            number of classes.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 scheme: str = 'none',
                 enet_c: float = 1.02,
                 num_rare_classes: int = 0,
                 plot: bool = True,
                 cache_dir: Optional[str] = None) -> None:
        _check_scheme(scheme)
        if not enet_c > 1:
            raise ClassStatisticsError(
                f'ClassStatisticsHook: expected enet_c > 1 (the weights are '
                f'1 / ln(enet_c + p)), got {enet_c!r}')
        if (isinstance(num_rare_classes, bool)
                or not isinstance(num_rare_classes, int)
                or num_rare_classes < 0):
            raise ClassStatisticsError(
                f'ClassStatisticsHook: expected num_rare_classes to be an '
                f'int >= 0, got {num_rare_classes!r}')
        self.scheme = scheme
        self.enet_c = float(enet_c)
        self.num_rare_classes = num_rare_classes
        self.plot = plot
        self.cache_dir = cache_dir
        # Set in before_train.
        self.statistics: Optional[Dict[str, Any]] = None
        self.class_weights: Optional[List[float]] = None
        self.rare_classes: List[int] = []
        # Set in after_load_checkpoint.
        self._checkpoint_meta: Dict[str, Any] = {}

    # Hook entry points

    def before_train(self, runner: Runner) -> None:
        """Count (or load), broadcast, log, plot and apply the statistics.

        Args:
            runner (Runner): The runner of the training process.
        """
        loader = runner.train_dataloader
        if not isinstance(loader, DataLoader):
            raise TypeError(
                f'ClassStatisticsHook: expected runner.train_dataloader to be '
                f'a built DataLoader in before_train, got '
                f'{type(loader).__name__}')
        dataset = loader.dataset
        bases = _base_datasets(dataset)
        classes = self._classes(dataset)
        num_classes = self._num_classes(runner, classes)

        value = self._collect(runner, bases, classes, num_classes)
        self.statistics = value
        self.class_weights = compute_class_weights(value, self.scheme,
                                                   self.enet_c)

        if is_main_process():
            runner.logger.info(self._table())
            self._compare_with_checkpoint(runner)
            if self.plot:
                path = osp.join(runner.work_dir, PLOT_NAME)
                self._plot(path)
                runner.logger.info(f'ClassStatisticsHook: wrote {path}')
        if self.class_weights is not None:
            self._apply_weights(runner)
        if self.num_rare_classes > 0:
            self._apply_rare_classes(runner, bases)

    def before_save_checkpoint(self, runner: Runner,
                               checkpoint: dict) -> None:
        """Store the statistics and weights in ``checkpoint['meta']``.

        Args:
            runner (Runner): The runner of the training process.
            checkpoint (dict): The checkpoint to be saved.
        """
        if self.statistics is None:
            return
        meta = checkpoint.setdefault('meta', {})
        meta[META_STATISTICS] = dict(self.statistics)
        meta[META_WEIGHTS] = (
            list(self.class_weights)
            if self.class_weights is not None else None)
        meta[META_SCHEME] = self.scheme

    def after_load_checkpoint(self, runner: Runner,
                              checkpoint: dict) -> None:
        """Keep the statistics and weights of a resumed or loaded
        checkpoint, for ``before_train`` to reuse and compare.

        Args:
            runner (Runner): The runner of the training process.
            checkpoint (dict): The loaded checkpoint.
        """
        meta = checkpoint.get('meta') or {}
        self._checkpoint_meta = {
            key: meta[key]
            for key in (META_STATISTICS, META_WEIGHTS, META_SCHEME)
            if key in meta
        }

    # Dataset and model

    @staticmethod
    def _classes(dataset: Any) -> Optional[List[str]]:
        """Class names from the dataset's metainfo, if it has them."""
        metainfo = getattr(dataset, 'metainfo', None) or {}
        classes = metainfo.get('classes')
        return [str(c) for c in classes] if classes else None

    @staticmethod
    def _heads(runner: Runner) -> List[Tuple[str, nn.Module]]:
        """``(name, head)`` for every decode and auxiliary head."""
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        heads = []
        for attr in ('decode_head', 'auxiliary_head'):
            head = getattr(model, attr, None)
            if isinstance(head, nn.ModuleList):
                heads += [(f'{attr}.{i}', h) for i, h in enumerate(head)]
            elif isinstance(head, nn.Module):
                heads.append((attr, head))
        return heads

    def _num_classes(self, runner: Runner,
                     classes: Optional[List[str]]) -> int:
        """The number of classes, checked across heads and dataset."""
        found = {
            name: int(head.num_classes)
            for name, head in self._heads(runner)
            if hasattr(head, 'num_classes')
        }
        if classes is not None:
            found['len(dataset.metainfo["classes"])'] = len(classes)
        if not found:
            raise ClassStatisticsError(
                'ClassStatisticsHook: expected decode heads with num_classes '
                'or a training set with metainfo["classes"], found neither')
        if len(set(found.values())) > 1:
            listed = ', '.join(f'{k}={v}' for k, v in found.items())
            raise ClassStatisticsError(
                f'ClassStatisticsHook: expected the heads and the training '
                f'set to agree on the number of classes, got {listed}')
        return next(iter(found.values()))

    @staticmethod
    def _samples(bases: Sequence[Any]) -> List[_Sample]:
        """The label maps of the training set, with their label mapping."""
        samples = []
        for dataset in bases:
            name = type(dataset).__name__
            for index in range(len(dataset)):
                info = dataset.get_data_info(index)
                path = info.get('seg_map_path')
                if not path:
                    raise ClassStatisticsError(
                        f'ClassStatisticsHook: expected every training '
                        f"sample to have a label map ('seg_map_path'), "
                        f'sample {index} of {name} '
                        f"(data_root {getattr(dataset, 'data_root', None)!r})"
                        f' has {path!r}')
                samples.append(
                    _Sample(path, info.get('reduce_zero_label', False),
                            info.get('label_map')))
        if not samples:
            raise ClassStatisticsError(
                'ClassStatisticsHook: expected a training set with label '
                'maps, got an empty training set')
        return samples

    @staticmethod
    def _ignore_index(bases: Sequence[Any]) -> int:
        """The ignore index of the training set(s), 255 if they name none."""
        found = {int(getattr(d, 'ignore_index', 255)) for d in bases}
        if len(found) > 1:
            raise ClassStatisticsError(
                f'ClassStatisticsHook: expected one ignore_index for all '
                f'training datasets, got {sorted(found)}')
        return found.pop()

    @staticmethod
    def _loader_args(bases: Sequence[Any]) -> Tuple[str, Optional[dict]]:
        """``imdecode_backend`` and ``backend_args`` as the train pipeline's
        ``LoadAnnotations`` reads label maps (pillow and local files if
        there is none)."""
        for dataset in bases:
            for transform in _pipeline_transforms(dataset):
                if isinstance(transform, LoadAnnotations):
                    return (transform.imdecode_backend,
                            transform.backend_args)
        return 'pillow', getattr(bases[0], 'backend_args', None)

    # Counting and cache

    def _collect(self, runner: Runner, bases: Sequence[Any],
                 classes: Optional[List[str]],
                 num_classes: int) -> Dict[str, Any]:
        """Load the statistics from the cache or checkpoint, or count them
        (the lookup on rank 0, the counting shared by all ranks)."""
        samples = self._samples(bases)
        ignore_index = self._ignore_index(bases)
        fingerprint = hashlib.sha1(
            json.dumps(
                dict(
                    version=CACHE_VERSION,
                    num_classes=num_classes,
                    ignore_index=ignore_index,
                    samples=[s.key() for s in samples]),
                sort_keys=True).encode()).hexdigest()
        cache_dir = self.cache_dir or runner.work_dir
        cache_path = osp.join(cache_dir, cache_file_name(fingerprint))

        # Rank 0 looks for stored statistics; every rank learns the answer.
        stored = _on_rank0_then_broadcast(
            lambda: self._stored(runner, cache_path, fingerprint))
        if stored is not None:
            statistics = stored
        else:
            # Each rank counts its share of the label maps; the counts are
            # summed. No rank idles in a collective while another counts
            # (an NCCL collective times out after 10 minutes by default).
            rank, world_size = get_dist_info()
            if rank == 0:
                runner.logger.info(
                    f'ClassStatisticsHook: counting the label pixels of '
                    f'{len(samples)} training images on {world_size} '
                    f'rank(s)')
            statistics = _sum_over_ranks(lambda: self._count(
                bases, samples[rank::world_size], num_classes, ignore_index,
                progress=rank == 0))
            if sum(statistics['pixel_counts']) == 0:
                raise ClassStatisticsError(
                    f'ClassStatisticsHook: expected labelled pixels in the '
                    f'training set, got none in {len(samples)} label maps '
                    f'(all pixels are the ignore index {ignore_index}), e.g. '
                    f'{samples[0].path}')
            statistics['fingerprint'] = fingerprint
            if rank == 0:
                self._write_cache(runner, cache_path, statistics)
        if classes is not None:  # names are not in the fingerprint
            statistics['classes'] = classes
        return statistics

    def _stored(self, runner: Runner, cache_path: str,
                fingerprint: str) -> Optional[Dict[str, Any]]:
        """Statistics from the cache or the loaded checkpoint, if they
        match ``fingerprint``; else None."""
        statistics = self._read_cache(runner, cache_path, fingerprint)
        if statistics is not None:
            runner.logger.info(
                f'ClassStatisticsHook: loaded the class statistics from the '
                f'cache {cache_path}, not counting again')
            return statistics
        saved = self._checkpoint_meta.get(META_STATISTICS)
        if isinstance(saved, dict) and saved.get('fingerprint') == fingerprint:
            runner.logger.info(
                'ClassStatisticsHook: took the class statistics from the '
                'loaded checkpoint (same fingerprint), not counting again')
            self._write_cache(runner, cache_path, dict(saved))
            return dict(saved)
        return None

    def _count(self,
               bases: Sequence[Any],
               samples: Sequence[_Sample],
               num_classes: int,
               ignore_index: int,
               progress: bool = True) -> Dict[str, Any]:
        """Count the labelled pixels of each class over the label maps."""
        backend, backend_args = self._loader_args(bases)
        pixels = np.zeros(num_classes, dtype=np.int64)  # [K]
        images = np.zeros(num_classes, dtype=np.int64)  # [K]
        image_pixels = np.zeros(num_classes, dtype=np.int64)  # [K]
        luts: Dict[Any, np.ndarray] = {}
        bar = ProgressBar(len(samples)) if progress else None
        for sample in samples:
            lut_key = (sample.reduce_zero_label,
                       tuple(sorted((sample.label_map or {}).items())))
            if lut_key not in luts:
                luts[lut_key] = _label_lut(sample.reduce_zero_label,
                                           sample.label_map)
            lut = luts[lut_key]  # [V]
            raw = np.bincount(
                self._read_label(sample.path, backend, backend_args).ravel(),
                minlength=256)  # [V]
            counts = np.zeros(max(int(lut.max()), 255) + 1, np.int64)
            np.add.at(counts, lut, raw)  # counts of the mapped values
            if 0 <= ignore_index < counts.size:
                counts[ignore_index] = 0
            beyond = np.flatnonzero(counts[num_classes:]) + num_classes
            if beyond.size:
                after = ('after reduce_zero_label/label_map'
                         if sample.reduce_zero_label or sample.label_map else
                         'as stored')
                raise ClassStatisticsError(
                    f'{sample.path}: expected label values < num_classes='
                    f'{num_classes} or the ignore index {ignore_index}, got '
                    f'{beyond.tolist()} ({after})')
            counts = counts[:num_classes]  # [K]
            present = counts > 0
            pixels += counts
            images += present
            image_pixels[present] += counts.sum()
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.file.write('\n')
        return dict(
            num_classes=num_classes,
            ignore_index=ignore_index,
            num_images=len(samples),
            pixel_counts=pixels.tolist(),
            image_counts=images.tolist(),
            image_pixel_counts=image_pixels.tolist())

    @staticmethod
    def _read_label(path: str, backend: str,
                    backend_args: Optional[dict]) -> np.ndarray:
        """Read a label map as MMSeg's ``LoadAnnotations`` does (8 bits)."""
        try:
            label = mmcv.imfrombytes(
                fileio.get(path, backend_args=backend_args),
                flag='unchanged',
                backend=backend)
        except Exception as err:
            raise ClassStatisticsError(
                f'{path}: expected a readable label map, got '
                f'{type(err).__name__}: {str(err).splitlines()[0]}') from err
        if label is None:
            raise ClassStatisticsError(
                f'{path}: expected a label map that the {backend!r} backend '
                f'can decode, got data it could not decode')
        label = label.squeeze()
        if label.ndim != 2:
            raise ClassStatisticsError(
                f'{path}: expected a single-channel label map, got shape '
                f'{label.shape}')
        return label.astype(np.uint8)  # [H, W]

    @staticmethod
    def _read_cache(runner: Runner, path: str,
                    fingerprint: str) -> Optional[Dict[str, Any]]:
        """The cached statistics, or ``None`` if absent or unusable."""
        if not osp.isfile(path):
            return None
        try:
            with open(path) as file:
                statistics = json.load(file)
            if (statistics.get('version') != CACHE_VERSION
                    or statistics.get('fingerprint') != fingerprint):
                raise ValueError('another version or fingerprint')
        except (OSError, ValueError, AttributeError) as err:
            runner.logger.warning(
                f'ClassStatisticsHook: ignoring the cache {path} ({err}); '
                f'counting again')
            return None
        statistics.pop('version')
        return statistics

    @staticmethod
    def _write_cache(runner: Runner, path: str,
                     statistics: Dict[str, Any]) -> None:
        """Write the statistics to ``path`` atomically; a failed write (a
        read-only or full cache dir) is a warning, not an error."""
        try:
            _write_atomic(
                path,
                json.dumps(dict(version=CACHE_VERSION, **statistics),
                           indent=1).encode())
        except OSError as err:
            runner.logger.warning(
                f'ClassStatisticsHook: could not write the cache {path} '
                f'({err}); the next run will count again')
            return
        runner.logger.info(
            f'ClassStatisticsHook: saved the class statistics to {path}')

    # Outputs

    def _names(self) -> List[str]:
        """Class names, or ids as names."""
        assert self.statistics is not None
        classes = self.statistics.get('classes')
        if classes is None:
            classes = [str(i) for i in range(self.statistics['num_classes'])]
        return list(classes)

    def _frequencies(self) -> np.ndarray:
        """``[K]`` share of each class among the labelled pixels."""
        assert self.statistics is not None
        pixels = np.asarray(self.statistics['pixel_counts'], np.float64)
        return pixels / pixels.sum()

    def _table(self) -> str:
        """The statistics (and weights) as a text table."""
        assert self.statistics is not None
        stats = self.statistics
        freqs = self._frequencies()
        header = ['id', 'class', 'pixels', 'frequency', 'images', 'weight']
        rows = []
        for i, name in enumerate(self._names()):
            weight = ('-' if self.class_weights is None else
                      f'{self.class_weights[i]:.4f}')
            if stats['pixel_counts'][i] == 0:
                weight += ' (absent)'
            rows.append([
                str(i), name, str(stats['pixel_counts'][i]),
                f'{freqs[i]:.3e}',
                str(stats['image_counts'][i]), weight
            ])
        widths = [
            max(len(r[j]) for r in rows + [header]) for j in range(len(header))
        ]
        rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

        def line(cells: List[str]) -> str:
            return '| ' + ' | '.join(
                c.ljust(w) if j == 1 else c.rjust(w)
                for j, (c, w) in enumerate(zip(cells, widths))) + ' |'

        title = (f'Class statistics of the training set: '
                 f'{stats["num_images"]} images, '
                 f'{sum(stats["pixel_counts"])} labelled pixels, '
                 f'scheme {self.scheme!r}')
        return '\n'.join([title, rule, line(header), rule] +
                         [line(r) for r in rows] + [rule])

    def _plot(self, path: str) -> None:
        """Write the bar chart: frequencies (log scale), and weights."""
        # No pyplot: no global backend or figure state is touched.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        names = self._names()
        freqs = self._frequencies()
        x = np.arange(len(names))
        rows = 1 if self.class_weights is None else 2
        figure = Figure(figsize=(max(6.0, 0.4 * len(names) + 2), 2.8 * rows +
                                 1.2))
        FigureCanvasAgg(figure)
        axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
        present = freqs > 0
        axes[0].bar(x[present], freqs[present], color='tab:blue')
        axes[0].set_yscale('log')
        axes[0].set_ylabel('pixel frequency')
        axes[0].set_title('Class statistics of the training set')
        if self.class_weights is not None:
            axes[1].bar(x, self.class_weights, color='tab:orange')
            axes[1].set_ylabel(f'weight ({self.scheme})')
        axes[-1].set_xticks(x)
        axes[-1].set_xticklabels(names, rotation=60, ha='right')
        figure.tight_layout()
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        with tempfile.TemporaryDirectory(dir=osp.dirname(path)) as tmp:
            tmp_path = osp.join(tmp, PLOT_NAME)
            figure.savefig(tmp_path, format='png')
            os.replace(tmp_path, path)

    def _compare_with_checkpoint(self, runner: Runner) -> None:
        """Warn if the loaded checkpoint was trained with other weights."""
        if META_SCHEME not in self._checkpoint_meta:
            return
        scheme = self._checkpoint_meta[META_SCHEME]
        weights = self._checkpoint_meta.get(META_WEIGHTS)
        if scheme != self.scheme:
            runner.logger.warning(
                f'ClassStatisticsHook: the loaded checkpoint was trained '
                f'with scheme {scheme!r}, this run uses {self.scheme!r}')
        elif weights is not None and self.class_weights is not None:
            if len(weights) != len(self.class_weights) or not np.allclose(
                    weights, self.class_weights, rtol=1e-6, atol=0):
                runner.logger.warning(
                    f'ClassStatisticsHook: the loaded checkpoint was trained '
                    f'with other {scheme!r} weights ({weights}); the labels '
                    f'changed since, this run uses {self.class_weights}')
            else:
                runner.logger.info(
                    'ClassStatisticsHook: the class weights match those of '
                    'the loaded checkpoint')

    def _apply_weights(self, runner: Runner) -> None:
        """Set the weights on the heads' softmax cross-entropy losses."""
        weights = list(self.class_weights or [])
        log = is_main_process()
        applied = 0
        for head_name, head in self._heads(runner):
            losses = getattr(head, 'loss_decode', None)
            if losses is None:
                continue
            if not isinstance(losses, nn.ModuleList):
                losses = [losses]
                names = [f'{head_name}.loss_decode']
            else:
                names = [
                    f'{head_name}.loss_decode.{i}' for i in range(len(losses))
                ]
            for name, loss in zip(names, losses):
                kind = type(loss).__name__
                if not isinstance(loss, CrossEntropyLoss) or (
                        loss.use_sigmoid or loss.use_mask):
                    if log:
                        runner.logger.warning(
                            f'ClassStatisticsHook: {name} is {kind} (not a '
                            f'softmax CrossEntropyLoss); its class weights '
                            f'are left as they are')
                    continue
                if log and loss.class_weight is not None:
                    runner.logger.warning(
                        f'ClassStatisticsHook: replacing the configured '
                        f'class_weight of {name}')
                loss.class_weight = list(weights)
                if loss.cls_criterion is ignore_safe_cross_entropy.__wrapped__:
                    # Built before the compat fix was installed.
                    loss.cls_criterion = ignore_safe_cross_entropy
                applied += 1
                if log:
                    runner.logger.info(
                        f'ClassStatisticsHook: class weights '
                        f'({self.scheme}) set on {name} ({kind} '
                        f'{loss.loss_name!r}): '
                        f'{[round(w, 4) for w in weights]}')
        if log and not applied:
            runner.logger.warning(
                'ClassStatisticsHook: found no softmax CrossEntropyLoss in '
                'the decode or auxiliary heads; no class weights were set')

    def _apply_rare_classes(self, runner: Runner,
                            bases: Sequence[Any]) -> None:
        """Pass the rarest classes to the ``set_rare_classes`` transforms."""
        assert self.statistics is not None
        pixels = self.statistics['pixel_counts']
        present = [i for i, n in enumerate(pixels) if n > 0]
        self.rare_classes = sorted(
            present, key=lambda i: (pixels[i], i))[:self.num_rare_classes]
        targets = [
            t for dataset in bases for t in _pipeline_transforms(dataset)
            if callable(getattr(t, 'set_rare_classes', None))
        ]
        for transform in targets:
            transform.set_rare_classes(list(self.rare_classes))
        restarted = bool(targets) and self._restart_workers(runner)
        if not is_main_process():
            return
        if not targets:
            runner.logger.warning(
                f'ClassStatisticsHook: num_rare_classes='
                f'{self.num_rare_classes}, but no transform of the train '
                f'pipeline has set_rare_classes; nothing was set')
            return
        names = self._names()
        kinds = sorted({type(t).__name__ for t in targets})
        runner.logger.info(
            f'ClassStatisticsHook: rare classes '
            f'{[(i, names[i]) for i in self.rare_classes]} set on '
            f'{len(targets)} transform(s) ({", ".join(kinds)})' +
            ('; restarted the data loader workers' if restarted else ''))

    @staticmethod
    def _restart_workers(runner: Runner) -> bool:
        """Restart the train loop's data iterator if its workers already
        hold copies of the dataset (see the class docstring).

        Returns:
            bool: Whether it was restarted.
        """
        loader = runner.train_dataloader
        loop = runner.train_loop
        iterator = getattr(loop, 'dataloader_iterator', None)
        if not loader.num_workers or not isinstance(
                iterator, _InfiniteDataloaderIterator):
            return False
        old = getattr(iterator, '_iterator', None)
        shutdown = getattr(old, '_shutdown_workers', None)
        if callable(shutdown):
            shutdown()
        if getattr(loader, '_iterator', None) is old:
            # Persistent workers: the DataLoader would reuse the old ones.
            loader._iterator = None
        loop.dataloader_iterator = _InfiniteDataloaderIterator(loader)
        return True


def _on_rank0_then_broadcast(fn: Callable[[], Any]) -> Any:
    """``fn()`` on rank 0, its result broadcast to every rank. An error on
    rank 0 is raised on every rank (the others would otherwise wait in the
    broadcast until it times out)."""
    payload: List[Any] = [None]
    error: Optional[BaseException] = None
    if get_rank() == 0:
        try:
            payload[0] = ('ok', fn())
        except Exception as err:  # re-raised below, on every rank
            error = err
            payload[0] = ('error', f'{type(err).__name__}: {err}')
    broadcast_object_list(payload, src=0)
    if error is not None:
        raise error
    status, value = payload[0]
    if status == 'error':
        raise RuntimeError(f'ClassStatisticsHook: rank 0 failed: {value}')
    return value


def _sum_over_ranks(fn: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    """``fn()`` on every rank, its count lists summed over the ranks. An
    error on any rank is raised on every rank."""
    error: Optional[BaseException] = None
    try:
        part: Tuple[str, Any] = ('ok', fn())
    except Exception as err:  # re-raised below, after the gather
        error = err
        part = ('error', f'{type(err).__name__}: {err}')
    parts = all_gather_object(part)
    if error is not None:
        raise error
    for rank, (status, value) in enumerate(parts):
        if status == 'error':
            raise RuntimeError(
                f'ClassStatisticsHook: rank {rank} failed: {value}')
    total = dict(parts[0][1], num_images=0)
    for key in ('pixel_counts', 'image_counts', 'image_pixel_counts'):
        total[key] = [sum(c) for c in zip(*(v[key] for _, v in parts))]
    total['num_images'] = sum(v['num_images'] for _, v in parts)
    return total


def _write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so
    that a reader never sees a partial file."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        dir=directory, prefix='.tmp_', suffix='.json')
    try:
        with os.fdopen(fd, 'wb') as file:
            file.write(data)
        os.replace(tmp_path, path)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise
