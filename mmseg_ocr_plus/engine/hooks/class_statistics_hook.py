"""Per-class pixel statistics of the training set before training, and class
weights for the cross-entropy losses from them. The counting and the
weighting schemes are :mod:`mmseg_ocr_plus.datasets.class_statistics`, which
``tools/analysis_tools/class_statistics.py`` runs offline."""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmseg.models.losses import CrossEntropyLoss
from mmseg.registry import HOOKS
from torch import nn

from ...compat import ignore_safe_cross_entropy
from ...datasets import class_statistics as stats
from ...datasets.transforms import ClassAwareRandomCrop

__all__ = ['CACHE_VERSION', 'ClassStatisticsHook']

CACHE_VERSION = 2  # bump when the counting or the cache layout changes
PLOT_NAME = 'class_statistics.png'


@HOOKS.register_module()
class ClassStatisticsHook(Hook):
    """Count the pixels of each class in the training set before training;
    log, plot and cache the counts, and weight the cross-entropy losses.

    In ``before_train`` each rank counts its share of the label maps
    (:func:`~mmseg_ocr_plus.datasets.class_statistics.count_class_pixels`),
    summed by ``mmengine.dist.all_reduce``; an error on one rank is raised
    on all. Rank 0 caches the counts in the work dir as
    ``class_statistics_<fingerprint[:16]>.json``, the fingerprint hashing
    the label maps' paths, sizes, modification times and label mapping, the
    classes, ignore index and :data:`CACHE_VERSION`: a resume does not
    count again (an unreadable cache file is ignored, with a warning). The
    log gets a table (pixels, frequency, images, weight per class), the work
    dir ``class_statistics.png``.

    The weights (``'inverse_log'``: ENet's ``1 / ln(1.02 + p)``;
    ``'median_frequency'``: Eigen & Fergus; absent classes get 0) become
    ``class_weight`` of every softmax ``CrossEntropyLoss`` in ``loss_decode``
    of the decode heads (a ``ModuleList`` for cascade models) and auxiliary
    heads, replacing a configured one; other losses are left (both with a
    warning). Checkpoints hold ``meta['class_weights']`` (``None`` for
    ``'none'``, which changes no loss) and ``meta['class_weight_scheme']``.

    ``num_rare_classes=N`` logs the N rarest classes present as the config
    value ``ClassAwareRandomCrop(rare_classes=[...])`` and warns if one in
    the train pipeline has others (or none); the pipeline is not changed.

    Priority ``'ABOVE_NORMAL'``: hooks of the default priority see the
    weighted losses.

    Args:
        scheme (str): ``'none'``, ``'inverse_log'`` or
            ``'median_frequency'``. Defaults to ``'none'``.
        num_rare_classes (int): How many rarest classes to log. Defaults
            to 0.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 scheme: str = 'none',
                 num_rare_classes: int = 0) -> None:
        try:
            stats.check_options(scheme, num_rare_classes)
        except stats.ClassStatisticsError as err:
            raise stats.ClassStatisticsError(
                f'ClassStatisticsHook: {err}') from None
        self.scheme = scheme
        self.num_rare_classes = num_rare_classes
        self.statistics: Optional[Dict[str, Any]] = None  # in before_train
        self.class_weights: Optional[List[float]] = None
        self.rare_classes: List[int] = []

    def before_train(self, runner: Runner) -> None:
        """Count (or load), log, plot and apply the statistics.

        Args:
            runner (Runner): The runner of the training process.
        """
        dataset = runner.train_dataloader.dataset
        self.statistics = self._count(runner, dataset)
        self.class_weights = stats.compute_class_weights(
            self.statistics, self.scheme)
        runner.logger.info(
            stats.format_table(self.statistics, self.class_weights,
                               self.scheme))
        if get_dist_info()[0] == 0:
            path = osp.join(runner.work_dir, PLOT_NAME)
            self._plot(path)
            runner.logger.info(f'ClassStatisticsHook: wrote {path}')
        if self.class_weights is not None:
            self._apply_weights(runner)
        if self.num_rare_classes:
            self._report_rare_classes(runner, dataset)

    def before_save_checkpoint(self, runner: Runner,
                               checkpoint: dict) -> None:
        """Store the weights and scheme in ``checkpoint['meta']``.

        Args:
            runner (Runner): The runner of the training process.
            checkpoint (dict): The checkpoint to be saved.
        """
        if self.statistics is not None:
            checkpoint.setdefault('meta', {}).update(
                class_weights=self.class_weights,
                class_weight_scheme=self.scheme)

    def _count(self, runner: Runner, dataset: Any) -> Dict[str, Any]:
        """The counts from rank 0's cache, else counted by every rank."""
        rank, world_size = get_dist_info()
        # Reads no label map: the classes and ignore index, or the same
        # error on every rank for a dataset without them.
        counts = stats.count_class_pixels(dataset, part=slice(0))
        cached = error = None
        if rank == 0:
            try:
                path = osp.join(runner.work_dir, _cache_name(dataset, counts))
                cached = _read_cache(runner, path, len(_flatten(counts)))
            except Exception as err:  # raised after the all_reduce
                error = err
        found = _sum_over_ranks([cached is not None], error)[0]
        if not found:
            runner.logger.info(
                f'ClassStatisticsHook: counting the label pixels of the '
                f'training set on {world_size} rank(s)')
            try:
                counts = stats.count_class_pixels(
                    dataset, part=slice(rank, None, world_size),
                    progress=rank == 0)
            except Exception as err:  # raised after the all_reduce
                error = err
        total = _sum_over_ranks(cached or _flatten(counts), error)
        counts['num_images'] = total[0]
        lists = np.reshape(total[1:], (3, -1)).tolist()  # [3, K], COUNT_KEYS
        counts.update(zip(stats.COUNT_KEYS, lists))
        if rank == 0 and not found:
            try:
                with open(path, 'w') as file:
                    json.dump(counts, file, indent=1)
            except OSError as err:  # the next run counts again
                runner.logger.warning(f'ClassStatisticsHook: could not '
                                      f'write the cache {path}: {err}')
        return counts

    def _apply_weights(self, runner: Runner) -> None:
        """Set the weights on the heads' softmax cross-entropy losses."""
        weights, weighted = self.class_weights, []
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        for head_name, head in (_named(model, 'decode_head') +
                                _named(model, 'auxiliary_head')):
            for loss_name, loss in _named(head, 'loss_decode'):
                name = f'{head_name}.{loss_name}'
                if not isinstance(loss, CrossEntropyLoss) or (
                        loss.use_sigmoid or loss.use_mask):
                    runner.logger.warning(
                        f'ClassStatisticsHook: {name} is '
                        f'{type(loss).__name__}, not a softmax '
                        f'CrossEntropyLoss; its class weights are left')
                    continue
                if loss.class_weight is not None:
                    runner.logger.warning(f'ClassStatisticsHook: replacing '
                                          f'the configured class_weight of '
                                          f'{name}')
                loss.class_weight = list(weights)
                if loss.cls_criterion is ignore_safe_cross_entropy.__wrapped__:
                    # Built before the compat fix was installed.
                    loss.cls_criterion = ignore_safe_cross_entropy
                weighted.append(name)
        if not weighted:
            runner.logger.warning(
                'ClassStatisticsHook: no softmax CrossEntropyLoss in the '
                'decode or auxiliary heads; no class weights were set')
            return
        runner.logger.info(
            f'ClassStatisticsHook: class weights ({self.scheme}) '
            f'{[round(w, 4) for w in weights]} set on '
            f'{", ".join(weighted)}')

    def _report_rare_classes(self, runner: Runner, dataset: Any) -> None:
        """Log the rare classes as a config value; warn where a
        ``ClassAwareRandomCrop`` of the train pipeline has others."""
        rare = self.rare_classes = stats.rarest_classes(
            self.statistics, self.num_rare_classes)
        runner.logger.info(
            f'ClassStatisticsHook: the {len(rare)} rarest classes present '
            f'are {[self.statistics["classes"][i] for i in rare]}; for '
            f'ClassAwareRandomCrop in the train pipeline: rare_classes={rare}')
        for base in stats.base_datasets(dataset):
            for t in base.pipeline.transforms:
                if isinstance(t, ClassAwareRandomCrop) and set(
                        t.rare_classes or ()) != set(rare):
                    runner.logger.warning(
                        f'ClassStatisticsHook: the train pipeline has {t!r}'
                        f', the statistics give rare_classes={rare}')

    def _plot(self, path: str) -> None:
        """Write the chart: pixel frequencies (log scale) and weights."""
        # No pyplot: no global backend or figure state is touched.
        from matplotlib.figure import Figure

        names = self.statistics['classes']
        freqs = stats.class_frequencies(self.statistics)  # [K]
        x = np.arange(len(names))
        figure = Figure(figsize=(max(6, 0.4 * len(names) + 2), 4))
        axes = figure.subplots()
        axes.bar(x[freqs > 0], freqs[freqs > 0], color='tab:blue')
        axes.set(yscale='log', ylabel='pixel frequency (bars)',
                 title='Class statistics of the training set')
        axes.set_xticks(x, names, rotation=60, ha='right')
        if self.class_weights is not None:
            weights = axes.twinx()
            weights.plot(x, self.class_weights, 'o', color='tab:orange')
            weights.set_ylabel(f'{self.scheme} weight (dots)')
        figure.tight_layout()
        figure.savefig(path, format='png')


def _named(owner: nn.Module, attr: str) -> List[Tuple[str, nn.Module]]:
    """``(name, module)`` of each module of ``owner.<attr>``, a module or a
    ``ModuleList`` (the heads of a cascade model, several losses)."""
    value = getattr(owner, attr, None)
    if isinstance(value, nn.ModuleList):
        return [(f'{attr}.{i}', module) for i, module in enumerate(value)]
    return [] if value is None else [(attr, value)]


def _flatten(counts: Dict[str, Any]) -> List[int]:
    """``num_images`` and the count lists, as one list."""
    lists = [counts[key] for key in stats.COUNT_KEYS]
    return [counts['num_images']] + [n for values in lists for n in values]


def _sum_over_ranks(values: List[int],
                    error: Optional[Exception]) -> List[int]:
    """``values`` summed over the ranks by one ``all_reduce``; an error on
    any rank is raised on every rank, after it (a rank raising before it
    would leave the others waiting in it)."""
    total = torch.tensor([int(error is not None)] + list(values))  # int64
    all_reduce(total)  # sum
    if error is not None:
        raise error
    if total[0]:
        raise RuntimeError(
            f'ClassStatisticsHook: {int(total[0])} other rank(s) failed while '
            f'counting the class statistics; their output has the error')
    return total[1:].tolist()


def _cache_name(dataset: Any, counts: Dict[str, Any]) -> str:
    """The cache file name: ``class_statistics_<fingerprint[:16]>.json``,
    the sha1 of what the counts depend on (see the class docstring)."""
    samples = []
    for path, reduce_zero_label, label_map in stats.label_samples(dataset):
        stat = os.stat(path) if osp.isfile(path) else None  # None: remote
        samples.append([
            path, stat and stat.st_size, stat and stat.st_mtime_ns,
            reduce_zero_label, sorted((label_map or {}).items())
        ])
    key = [CACHE_VERSION, counts['classes'], counts['ignore_index'], samples]
    fingerprint = hashlib.sha1(json.dumps(key).encode()).hexdigest()
    return f'class_statistics_{fingerprint[:16]}.json'


def _read_cache(runner: Runner, path: str,
                size: int) -> Optional[List[int]]:
    """The cached counts (as :func:`_flatten`); ``None`` if there are none
    or, with a warning, if they are unusable."""
    if not osp.isfile(path):
        return None
    try:
        with open(path) as file:
            values = [int(n) for n in _flatten(json.load(file))]
        if len(values) != size:
            raise ValueError(f'{len(values)} counts, expected {size}')
    except (OSError, ValueError, KeyError, TypeError) as err:
        runner.logger.warning(f'ClassStatisticsHook: ignoring the cache '
                              f'{path} ({err!r}); counting again')
        return None
    runner.logger.info(f'ClassStatisticsHook: loaded the class statistics '
                       f'from the cache {path}, not counting again')
    return values

