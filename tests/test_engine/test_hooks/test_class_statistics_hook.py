"""``ClassStatisticsHook`` with a ``Mock()`` runner on tiny label maps.

The training set is that of ``tests/test_datasets/test_class_statistics.py``
(which checks the counting itself): three 4x4 label maps of classes
``a b c d`` (``d`` never occurs) and the ignore index 255::

    class               a   b   c   d
    pixels             20  18   6   0
    images              2   2   2   0
    pixels of images   28  32  28   0   (labelled pixels where it occurs)

Several ranks are simulated with threads: the hook module's
``get_dist_info`` and ``all_reduce`` are replaced by ones that sum the
ranks' tensors (:class:`ThreadRanks`).
"""
import json
import threading
from pathlib import Path
from typing import Callable, List, Optional
from unittest.mock import Mock

import numpy as np
import pytest
import torch
from class_statistics_data import (
    CLASSES,
    IMAGE_PIXELS,
    MEDIAN_WEIGHTS,
    PIXELS,
    label_maps,
    write_dataset,
)
from mmengine.dataset import RepeatDataset, pseudo_collate
from mmseg.datasets import BaseSegDataset
from mmseg.models.losses import CrossEntropyLoss, DiceLoss
from mmseg.registry import HOOKS
from torch import nn
from torch.utils.data import DataLoader

from mmseg_ocr_plus.compat import ignore_safe_cross_entropy
from mmseg_ocr_plus.datasets import class_statistics
from mmseg_ocr_plus.datasets.class_statistics import (
    ClassStatisticsError,
    compute_class_weights,
    count_class_pixels,
)
from mmseg_ocr_plus.datasets.transforms import ClassAwareRandomCrop
from mmseg_ocr_plus.engine import ClassStatisticsHook
from mmseg_ocr_plus.engine.hooks import class_statistics_hook as module


def build_dataset(root: Path, pipeline: Optional[list] = None,
                  **kwargs) -> BaseSegDataset:
    return BaseSegDataset(
        data_root=str(root),
        data_prefix=dict(img_path='img', seg_map_path='ann'),
        img_suffix='.png',
        seg_map_suffix='.png',
        metainfo=dict(classes=CLASSES),
        pipeline=pipeline or [],
        serialize_data=False,
        **kwargs)


class Head(nn.Module):
    """The attributes of a decode head that the hook reads."""

    def __init__(self, loss_decode: nn.Module, num_classes: int = 4) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.loss_decode = loss_decode


def build_model() -> nn.Module:
    """A cascade model: two decode heads (the second with a softmax CE, a
    sigmoid CE and a Dice loss) and an auxiliary head."""
    model = nn.Module()
    model.decode_head = nn.ModuleList([
        Head(CrossEntropyLoss()),
        Head(
            nn.ModuleList([
                CrossEntropyLoss(class_weight=[1.0] * 4),
                CrossEntropyLoss(use_sigmoid=True),
                DiceLoss()
            ]))
    ])
    model.auxiliary_head = Head(CrossEntropyLoss())
    return model


def mock_runner(work_dir: Path, dataset,
                model: Optional[nn.Module] = None) -> Mock:
    """A runner with what the hook reads; the work dir is created, as the
    ``Runner`` does."""
    work_dir.mkdir(parents=True, exist_ok=True)
    runner = Mock()
    runner.work_dir = str(work_dir)
    runner.model = build_model() if model is None else model
    runner.train_dataloader = DataLoader(
        dataset, batch_size=1, collate_fn=pseudo_collate)
    return runner


def logged(runner: Mock, level: str = 'info') -> str:
    """Everything logged at ``level`` through ``runner.logger``."""
    calls = getattr(runner.logger, level).call_args_list
    return '\n'.join(str(call.args[0]) for call in calls)


def forbid_reading(monkeypatch) -> None:
    """Fail the test if a label map is read."""

    def read(*args, **kwargs):
        raise AssertionError('read a label map')

    monkeypatch.setattr(class_statistics, '_read_label', read)


def cache_files(work_dir: Path) -> List[Path]:
    return sorted(work_dir.glob('class_statistics_*.json'))


@pytest.fixture
def data_root(tmp_path) -> Path:
    return write_dataset(tmp_path / 'data', label_maps())


@pytest.fixture
def runner(tmp_path, data_root) -> Mock:
    return mock_runner(tmp_path / 'work', build_dataset(data_root))


class ThreadRanks:
    """``world_size`` ranks as threads: patches the hook module's
    ``get_dist_info`` and ``all_reduce``, whose sum waits for every rank
    (a rank that skips it leaves the others waiting: a hang, reported)."""

    def __init__(self, monkeypatch, world_size: int) -> None:
        self.world_size = world_size
        self.local = threading.local()
        self.barrier = threading.Barrier(world_size, timeout=30)
        self.tensors: List[Optional[torch.Tensor]] = [None] * world_size
        self.reduced: List[List[int]] = [[] for _ in range(world_size)]
        monkeypatch.setattr(module, 'get_dist_info',
                            lambda: (self.local.rank, world_size))
        monkeypatch.setattr(module, 'all_reduce', self.all_reduce)

    def all_reduce(self, tensor: torch.Tensor, op: str = 'sum') -> None:
        assert op == 'sum'
        rank = self.local.rank
        self.reduced[rank].append(tensor.numel())
        self.tensors[rank] = tensor.clone()
        self.barrier.wait()
        total = sum(self.tensors)
        self.barrier.wait()
        tensor.copy_(total)

    def run(self, fn: Callable[[int], object]) -> list:
        """``fn(rank)`` on every rank; its results or exceptions."""
        results: list = [None] * self.world_size

        def target(rank: int) -> None:
            self.local.rank = rank
            try:
                results[rank] = fn(rank)
            except Exception as err:
                results[rank] = err

        threads = [
            threading.Thread(target=target, args=(rank, ))
            for rank in range(self.world_size)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), 'hung'
        for result in results:
            assert not isinstance(result, threading.BrokenBarrierError), \
                'a rank waited in all_reduce for the others'
        return results


# Options


@pytest.mark.parametrize('scheme', ['enet', 'Median_Frequency', ''])
def test_unknown_scheme(scheme):
    with pytest.raises(ClassStatisticsError) as info:
        ClassStatisticsHook(scheme=scheme)
    assert type(info.value).__bases__ == (ValueError, )
    assert str(info.value) == (
        "ClassStatisticsHook: expected scheme to be one of 'none', "
        f"'inverse_log', 'median_frequency', got {scheme!r}")
    with pytest.raises(ValueError, match='expected scheme'):
        HOOKS.build(dict(type='ClassStatisticsHook', scheme=scheme))


@pytest.mark.parametrize('num', [-1, 1.5, True])
def test_bad_num_rare_classes(num):
    with pytest.raises(ClassStatisticsError,
                       match='ClassStatisticsHook: expected '
                       'num_rare_classes to be an int >= 0'):
        ClassStatisticsHook(num_rare_classes=num)


def test_defaults_and_registry():
    hook = HOOKS.build(dict(type='ClassStatisticsHook'))
    assert isinstance(hook, ClassStatisticsHook)
    assert hook.scheme == 'none' and hook.num_rare_classes == 0
    assert hook.priority == 'ABOVE_NORMAL'


# before_train


def test_counts_logs_plots_and_caches(runner, tmp_path):
    hook = ClassStatisticsHook(scheme='median_frequency')
    hook.before_train(runner)

    stats = hook.statistics
    assert stats == count_class_pixels(runner.train_dataloader.dataset)
    assert stats['pixel_counts'] == PIXELS
    assert stats['image_pixel_counts'] == IMAGE_PIXELS
    assert hook.class_weights == pytest.approx(MEDIAN_WEIGHTS)

    work_dir = tmp_path / 'work'
    [cache] = cache_files(work_dir)
    assert len(cache.stem) == len('class_statistics_') + 16
    assert json.loads(cache.read_text()) == stats
    png = work_dir / 'class_statistics.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    info = logged(runner)
    assert 'counting the label pixels of the training set on 1 rank(s)' \
        in info
    assert 'Class statistics of the training set: 3 images, 44 labelled ' \
        "pixels, scheme 'median_frequency'" in info
    assert '|  2 | c     |      6 | 1.364e-01 |      2 |          2.6250 |' \
        in info
    assert '|  3 | d     |      0 | 0.000e+00 |      0 | 0.0000 (absent) |' \
        in info
    assert f'wrote {png}' in info


def test_weights_reach_the_losses(runner):
    hook = ClassStatisticsHook(scheme='median_frequency')
    hook.before_train(runner)
    model = runner.model
    weighted = {
        'decode_head.0.loss_decode': model.decode_head[0].loss_decode,
        'decode_head.1.loss_decode.0': model.decode_head[1].loss_decode[0],
        'auxiliary_head.loss_decode': model.auxiliary_head.loss_decode,
    }
    for loss in weighted.values():
        assert loss.class_weight == pytest.approx(MEDIAN_WEIGHTS)
        assert all(type(w) is float for w in loss.class_weight)
        assert loss.cls_criterion is ignore_safe_cross_entropy  # compat
    assert ('class weights (median_frequency) [0.7875, 1.0, 2.625, 0.0] '
            f'set on {", ".join(weighted)}') in logged(runner)
    sigmoid, dice = model.decode_head[1].loss_decode[1:]
    assert sigmoid.class_weight is None
    assert getattr(dice, 'class_weight', None) is None
    warnings = logged(runner, 'warning')
    assert 'decode_head.1.loss_decode.1 is CrossEntropyLoss, not a ' \
        'softmax CrossEntropyLoss' in warnings
    assert 'decode_head.1.loss_decode.2 is DiceLoss' in warnings
    assert 'replacing the configured class_weight of ' \
        'decode_head.1.loss_decode.0' in warnings

    # The weighted losses take labels with ignored pixels.
    scores = torch.randn(2, 4, 4, 4)
    labels = torch.randint(0, 4, (2, 4, 4))
    labels[:, 0] = 255
    for loss in weighted.values():
        assert torch.isfinite(loss(scores, labels, ignore_index=255))


def test_no_softmax_loss_is_a_warning(tmp_path, data_root):
    model = nn.Module()
    model.decode_head = Head(DiceLoss())
    runner = mock_runner(tmp_path / 'work', build_dataset(data_root), model)
    ClassStatisticsHook(scheme='inverse_log').before_train(runner)
    assert 'no softmax CrossEntropyLoss in the decode or auxiliary heads' \
        in logged(runner, 'warning')


def test_loss_built_before_the_compat_fix_gets_it(runner):
    loss = runner.model.decode_head[0].loss_decode
    loss.cls_criterion = ignore_safe_cross_entropy.__wrapped__  # MMSeg's
    ClassStatisticsHook(scheme='inverse_log').before_train(runner)
    assert loss.cls_criterion is ignore_safe_cross_entropy


def test_scheme_none_leaves_the_losses(runner):
    hook = ClassStatisticsHook()
    hook.before_train(runner)
    assert hook.class_weights is None
    assert runner.model.decode_head[0].loss_decode.class_weight is None
    assert runner.model.decode_head[1].loss_decode[0].class_weight == [1.0] * 4
    assert '|  0 | a     |     20 | 4.545e-01 |      2 |          - |' in \
        logged(runner)
    assert not logged(runner, 'warning')


def test_model_wrapper_is_unwrapped(tmp_path, data_root, monkeypatch):
    model = build_model()
    wrapper = Mock(spec=['module'])
    wrapper.module = model
    runner = mock_runner(tmp_path / 'work', build_dataset(data_root), wrapper)
    monkeypatch.setattr(module, 'is_model_wrapper', lambda m: m is wrapper)
    ClassStatisticsHook(scheme='inverse_log').before_train(runner)
    assert model.decode_head[0].loss_decode.class_weight is not None


def test_dataset_wrappers(tmp_path, data_root):
    runner = mock_runner(tmp_path / 'work',
                         RepeatDataset(build_dataset(data_root), times=3))
    hook = ClassStatisticsHook()
    hook.before_train(runner)
    assert hook.statistics['pixel_counts'] == PIXELS  # each image once
    assert hook.statistics['num_images'] == 3


# Cache


def test_cache_is_reused_and_follows_the_labels(runner, data_root, tmp_path,
                                                monkeypatch):
    first = ClassStatisticsHook(scheme='median_frequency')
    first.before_train(runner)
    work_dir = tmp_path / 'work'

    again = mock_runner(work_dir, build_dataset(data_root))
    with monkeypatch.context() as patch:
        forbid_reading(patch)
        second = ClassStatisticsHook(scheme='inverse_log')
        second.before_train(again)
    assert second.statistics == first.statistics
    assert second.class_weights == compute_class_weights(
        first.statistics, 'inverse_log')
    assert 'loaded the class statistics from the cache' in logged(again)
    assert 'counting the label pixels' not in logged(again)

    # Changed labels (sizes and mtimes): another fingerprint, counted again.
    maps = label_maps()
    maps[0][:] = 3
    write_dataset(data_root, maps)
    changed = mock_runner(work_dir, build_dataset(data_root))
    third = ClassStatisticsHook()
    third.before_train(changed)
    assert 'counting the label pixels' in logged(changed)
    assert third.statistics['pixel_counts'] == [8, 14, 6, 16]
    assert len(cache_files(work_dir)) == 2

    # Another label mapping of the same files: counted again.
    dataset = build_dataset(data_root)
    for info in dataset.data_list:
        info['label_map'] = {1: 2, 2: 1}
    mapped = mock_runner(work_dir, dataset)
    ClassStatisticsHook().before_train(mapped)
    assert 'counting the label pixels' in logged(mapped)
    assert len(cache_files(work_dir)) == 3


@pytest.mark.parametrize('content', ['{"truncat', '{"num_images": 3}',
                                     '{"num_images": 3, "pixel_counts": [1],'
                                     ' "image_counts": [1], '
                                     '"image_pixel_counts": [1]}'])
def test_unusable_cache_is_counted_again(runner, tmp_path, content):
    hook = ClassStatisticsHook()
    hook.before_train(runner)
    [cache] = cache_files(tmp_path / 'work')
    cache.write_text(content)
    again = ClassStatisticsHook()
    again.before_train(runner)
    assert f'ignoring the cache {cache}' in logged(runner, 'warning')
    assert again.statistics == hook.statistics
    assert json.loads(cache.read_text())['pixel_counts'] == PIXELS


def test_failed_cache_write_is_a_warning(runner, tmp_path):
    work_dir = tmp_path / 'work'
    name = module._cache_name(runner.train_dataloader.dataset,
                              count_class_pixels(
                                  runner.train_dataloader.dataset, slice(0)))
    (work_dir / name).mkdir()  # a directory where the file should go
    hook = ClassStatisticsHook(scheme='inverse_log')
    hook.before_train(runner)  # trains on with the counted statistics
    assert hook.class_weights is not None
    warnings = logged(runner, 'warning')
    assert 'ignoring the cache' not in warnings  # not a file: no cache
    assert f'could not write the cache {work_dir / name}' in warnings


# Errors


def test_label_beyond_num_classes_writes_nothing(tmp_path):
    maps = label_maps()
    maps[1][0, 0] = 7
    root = write_dataset(tmp_path / 'data', maps)
    runner = mock_runner(tmp_path / 'work', build_dataset(root))
    with pytest.raises(ClassStatisticsError) as info:
        ClassStatisticsHook().before_train(runner)
    assert str(info.value) == (
        f'{root / "ann" / "1.png"}: expected label values < num_classes=4 '
        'or the ignore index 255, got [7] (as stored)')
    assert not list((tmp_path / 'work').iterdir())


def test_dataset_without_labelled_pixels(tmp_path):
    maps = [np.full((4, 4), 255, np.uint8)] * 2
    root = write_dataset(tmp_path / 'data', maps)
    runner = mock_runner(tmp_path / 'work', build_dataset(root))
    with pytest.raises(ClassStatisticsError,
                       match='expected labelled pixels in the training set, '
                       'got none in its 2 label maps'):
        ClassStatisticsHook().before_train(runner)


def test_sample_without_label_map(tmp_path, data_root):
    dataset = build_dataset(data_root)
    dataset.data_list[1].pop('seg_map_path')
    runner = mock_runner(tmp_path / 'work', dataset)
    with pytest.raises(ClassStatisticsError,
                       match="label map \\('seg_map_path'\\), sample 1"):
        ClassStatisticsHook().before_train(runner)


def test_unreadable_label_map(tmp_path, data_root):
    path = data_root / 'ann' / '2.png'
    path.write_bytes(b'not a png')
    runner = mock_runner(tmp_path / 'work', build_dataset(data_root))
    with pytest.raises(ClassStatisticsError) as info:
        ClassStatisticsHook().before_train(runner)
    assert str(info.value).startswith(
        f'{path}: expected a readable label map, got ')


# Checkpoints


def plain(value) -> bool:
    """Whether ``value`` holds only plain Python types."""
    if isinstance(value, dict):
        return all(type(k) is str and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


@pytest.mark.parametrize('scheme', ['median_frequency', 'none'])
def test_checkpoint_meta(runner, tmp_path, scheme):
    hook = ClassStatisticsHook(scheme=scheme)
    checkpoint = dict(meta=dict(iter=4))
    hook.before_save_checkpoint(runner, checkpoint)  # before training: no-op
    assert checkpoint == dict(meta=dict(iter=4))
    hook.before_train(runner)
    hook.before_save_checkpoint(runner, checkpoint)
    meta = checkpoint['meta']
    assert meta == dict(
        iter=4, class_weight_scheme=scheme, class_weights=hook.class_weights)
    if scheme == 'none':
        assert meta['class_weights'] is None
    else:
        assert meta['class_weights'] == pytest.approx(MEDIAN_WEIGHTS)
    assert plain(meta)
    torch.save(checkpoint, tmp_path / 'iter_4.pth')
    loaded = torch.load(tmp_path / 'iter_4.pth', weights_only=True)
    assert loaded['meta'] == meta


# Rare classes


def test_rare_classes_are_a_config_value(tmp_path, data_root):
    crops = [
        ClassAwareRandomCrop(2, rare_classes=[1, 2]),  # the same set
        ClassAwareRandomCrop(2),
        ClassAwareRandomCrop(2, rare_classes=[0]),
    ]
    runner = mock_runner(
        tmp_path / 'work',
        RepeatDataset(build_dataset(data_root, pipeline=crops), times=2))
    hook = ClassStatisticsHook(num_rare_classes=2)
    hook.before_train(runner)
    # Fewest pixels first among the classes present: c (6), b (18).
    assert hook.rare_classes == [2, 1]
    assert ("the 2 rarest classes present are ['c', 'b']; for "
            'ClassAwareRandomCrop in the train pipeline: rare_classes=[2, 1]'
            ) in logged(runner)
    warnings = logged(runner, 'warning').splitlines()
    assert [w for w in warnings if 'ClassAwareRandomCrop' in w] == [
        f'ClassStatisticsHook: the train pipeline has {crop!r}, the '
        'statistics give rare_classes=[2, 1]' for crop in crops[1:]
    ]
    assert crops[1].rare_classes is None  # the pipeline is not changed

    # More than there are: all classes present, never the absent d.
    hook = ClassStatisticsHook(num_rare_classes=10)
    hook.before_train(runner)
    assert hook.rare_classes == [2, 1, 0]


def test_no_rare_classes_by_default(runner):
    hook = ClassStatisticsHook()
    hook.before_train(runner)
    assert hook.rare_classes == []
    assert 'rarest' not in logged(runner)


# Distributed: threads as ranks


def test_ranks_count_their_share_and_sum_it(tmp_path, data_root,
                                            monkeypatch):
    ranks = ThreadRanks(monkeypatch, 2)
    runners = [
        mock_runner(tmp_path / 'work', build_dataset(data_root))
        for _ in range(2)
    ]
    counted = []
    count = module.stats.count_class_pixels

    def counting(dataset, part=slice(None), progress=False):
        counts = count(dataset, part, progress)
        counted.append((part, counts['num_images']))
        return counts

    monkeypatch.setattr(module.stats, 'count_class_pixels', counting)
    hooks = [ClassStatisticsHook(scheme='median_frequency') for _ in range(2)]
    assert ranks.run(lambda r: hooks[r].before_train(runners[r])) == [None] * 2
    # Each rank read its share: images 0 and 2 on rank 0, image 1 on rank 1.
    assert sorted((p.start, p.step, n) for p, n in counted
                  if p != slice(0)) == [(0, 2, 2), (1, 2, 1)]
    for hook, runner in zip(hooks, runners):
        assert hook.statistics['pixel_counts'] == PIXELS
        assert hook.statistics['num_images'] == 3
        assert hook.class_weights == pytest.approx(MEDIAN_WEIGHTS)
        loss = runner.model.decode_head[0].loss_decode
        assert loss.class_weight == hook.class_weights
    assert ranks.reduced == [[2, 14], [2, 14]]  # error flag + found; + 1 + 3K
    assert len(cache_files(tmp_path / 'work')) == 1  # rank 0 wrote it
    assert 'loaded the class statistics' not in logged(runners[1])

    # The next run: rank 0 loads the cache, no rank reads a label map.
    forbid_reading(monkeypatch)
    again = [ClassStatisticsHook(scheme='median_frequency') for _ in range(2)]
    assert ranks.run(lambda r: again[r].before_train(runners[r])) == [None] * 2
    assert [hook.statistics for hook in again] == [hooks[0].statistics] * 2
    assert 'loaded the class statistics from the cache' in logged(runners[0])


def test_error_on_one_rank_is_raised_on_every_rank(tmp_path, monkeypatch):
    maps = label_maps()
    maps[1][0, 0] = 9  # image 1: rank 1's share
    root = write_dataset(tmp_path / 'data', maps)
    ranks = ThreadRanks(monkeypatch, 2)
    runners = [
        mock_runner(tmp_path / 'work', build_dataset(root)) for _ in range(2)
    ]
    errors = ranks.run(
        lambda r: ClassStatisticsHook().before_train(runners[r]))
    assert isinstance(errors[1], ClassStatisticsError)
    assert 'got [9]' in str(errors[1])
    assert isinstance(errors[0], RuntimeError)
    assert str(errors[0]) == (
        'ClassStatisticsHook: 1 other rank(s) failed while counting the '
        'class statistics; their output has the error')
    assert not cache_files(tmp_path / 'work')


def test_cache_error_on_rank0_is_raised_on_every_rank(tmp_path, data_root,
                                                     monkeypatch):
    ranks = ThreadRanks(monkeypatch, 2)
    runners = [
        mock_runner(tmp_path / 'work', build_dataset(data_root))
        for _ in range(2)
    ]

    def fail(*args):
        raise PermissionError('cannot stat')

    monkeypatch.setattr(module, '_cache_name', fail)
    errors = ranks.run(
        lambda r: ClassStatisticsHook().before_train(runners[r]))
    assert isinstance(errors[0], PermissionError)
    assert isinstance(errors[1], RuntimeError)
    assert ranks.reduced == [[2], [2]]  # the flags only, then raised
