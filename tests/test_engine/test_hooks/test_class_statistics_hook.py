"""``ClassStatisticsHook`` with a ``Mock()`` runner on tiny label maps.

The training set: three 4x4 label maps of classes ``a b c d`` (``d`` never
occurs) and the ignore index 255::

    class               a   b   c   d
    pixels             20  18   6   0
    images              2   2   2   0
    pixels of images   28  32  28   0   (labelled pixels where it occurs)
"""
import json
import math
import os
from pathlib import Path
from types import SimpleNamespace
from typing import List, Optional
from unittest.mock import Mock

import numpy as np
import pytest
import torch
from mmengine.dataset import ConcatDataset, RepeatDataset, pseudo_collate
from mmengine.runner.loops import _InfiniteDataloaderIterator
from mmseg.datasets import BaseSegDataset
from mmseg.models.losses import CrossEntropyLoss, DiceLoss
from mmseg.registry import HOOKS
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from mmseg_ocr_plus.engine import ClassStatisticsHook
from mmseg_ocr_plus.engine.hooks import class_statistics_hook as module
from mmseg_ocr_plus.engine.hooks.class_statistics_hook import (
    ClassStatisticsError,
    compute_class_weights,
)
from mmseg_ocr_plus.utils import InvalidInputError
from mmseg_ocr_plus.utils.compat import ignore_safe_cross_entropy

CLASSES = ('a', 'b', 'c', 'd')
PIXELS = [20, 18, 6, 0]
IMAGE_PIXELS = [28, 32, 28, 0]
# median_frequency: f = 20/28, 18/32, 6/28; median 18/32.
MEDIAN_WEIGHTS = [(18 / 32) / (20 / 28), 1.0, (18 / 32) / (6 / 28), 0.0]


def label_maps() -> List[np.ndarray]:
    """The three label maps of the module docstring."""
    first = np.zeros((4, 4), np.uint8)
    first[0] = 1  # 12 a, 4 b
    second = np.zeros((4, 4), np.uint8)
    second[1] = 2
    second[2] = 255  # 8 a, 4 c, 4 ignored
    third = np.ones((4, 4), np.uint8)
    third[3, :2] = 2  # 14 b, 2 c
    return [first, second, third]


def write_dataset(root: Path, maps: List[np.ndarray]) -> Path:
    """Write images and label maps in MMSeg's ``img``/``ann`` layout."""
    for sub in ('img', 'ann'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, label in enumerate(maps):
        Image.fromarray(np.zeros(label.shape + (3, ), np.uint8)).save(
            root / 'img' / f'{i}.png')
        Image.fromarray(label).save(root / 'ann' / f'{i}.png')
    return root


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


def build_model(num_classes: int = 4) -> nn.Module:
    """A cascade model: two decode heads (the second with a softmax CE, a
    sigmoid CE and a Dice loss) and an auxiliary head."""
    model = nn.Module()
    model.decode_head = nn.ModuleList([
        Head(CrossEntropyLoss(), num_classes),
        Head(
            nn.ModuleList([
                CrossEntropyLoss(class_weight=[1.0] * num_classes),
                CrossEntropyLoss(use_sigmoid=True),
                DiceLoss()
            ]), num_classes)
    ])
    model.auxiliary_head = Head(CrossEntropyLoss(), num_classes)
    return model


def mock_runner(work_dir: Path, dataset, model: Optional[nn.Module] = None,
                **loader_kwargs) -> Mock:
    runner = Mock()
    runner.work_dir = str(work_dir)
    runner.model = build_model() if model is None else model
    loader_kwargs.setdefault('collate_fn', pseudo_collate)
    runner.train_dataloader = DataLoader(dataset, batch_size=1,
                                         **loader_kwargs)
    runner.train_loop = SimpleNamespace(dataloader_iterator=None)
    return runner


def logged(runner: Mock, level: str = 'info') -> str:
    """Everything logged at ``level`` through ``runner.logger``."""
    calls = getattr(runner.logger, level).call_args_list
    return '\n'.join(str(call.args[0]) for call in calls)


def forbid_reading(monkeypatch) -> None:
    """Fail the test if the hook reads a label map."""

    def read(*args, **kwargs):
        raise AssertionError('read a label map')

    monkeypatch.setattr(ClassStatisticsHook, '_read_label',
                        staticmethod(read))


@pytest.fixture
def data_root(tmp_path) -> Path:
    return write_dataset(tmp_path / 'data', label_maps())


@pytest.fixture
def runner(tmp_path, data_root) -> Mock:
    return mock_runner(tmp_path / 'work', build_dataset(data_root))


class FakeRareCrop:
    """A transform with ``set_rare_classes``, like ``ClassAwareRandomCrop``;
    it reports its rare classes in the results."""

    def __init__(self) -> None:
        self.rare = None

    def set_rare_classes(self, class_ids) -> None:
        self.rare = list(class_ids)

    def __call__(self, results: dict) -> dict:
        return dict(rare=self.rare)


# Options


@pytest.mark.parametrize('scheme', ['enet', 'Median_Frequency', ''])
def test_unknown_scheme(scheme):
    with pytest.raises(ValueError) as info:
        ClassStatisticsHook(scheme=scheme)
    assert isinstance(info.value, ClassStatisticsError)
    assert isinstance(info.value, InvalidInputError)  # one line in train.py
    assert str(info.value) == (
        "ClassStatisticsHook: expected scheme to be one of 'none', "
        f"'inverse_log', 'median_frequency', got {scheme!r}")
    with pytest.raises(ValueError, match='expected scheme'):
        HOOKS.build(dict(type='ClassStatisticsHook', scheme=scheme))


@pytest.mark.parametrize('kwargs, fragment', [
    (dict(enet_c=1.0), 'expected enet_c > 1'),
    (dict(num_rare_classes=-1), 'expected num_rare_classes to be an int'),
    (dict(num_rare_classes=1.5), 'expected num_rare_classes to be an int'),
])
def test_bad_options(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        ClassStatisticsHook(**kwargs)


def test_defaults_and_registry():
    hook = HOOKS.build(dict(type='ClassStatisticsHook'))
    assert isinstance(hook, ClassStatisticsHook)
    assert hook.scheme == 'none' and hook.enet_c == 1.02
    assert hook.num_rare_classes == 0 and hook.plot and hook.cache_dir is None
    assert hook.priority == 'ABOVE_NORMAL'


# Weights


def test_weight_schemes():
    stats = dict(pixel_counts=PIXELS, image_pixel_counts=IMAGE_PIXELS)
    assert compute_class_weights(stats, 'none') is None
    share = [n / 44 for n in PIXELS[:3]]
    assert compute_class_weights(stats, 'inverse_log') == pytest.approx(
        [1 / math.log(1.02 + p) for p in share] + [0.0])
    assert compute_class_weights(
        stats, 'inverse_log', enet_c=1.5) == pytest.approx(
            [1 / math.log(1.5 + p) for p in share] + [0.0])
    assert compute_class_weights(stats,
                                 'median_frequency') == pytest.approx(
                                     MEDIAN_WEIGHTS)
    with pytest.raises(ValueError, match='expected scheme'):
        compute_class_weights(stats, 'enet')


# before_train with a mocked runner


def test_counts_logs_plots_and_caches(runner, tmp_path):
    hook = ClassStatisticsHook(scheme='median_frequency')
    hook.before_train(runner)

    stats = hook.statistics
    assert stats['pixel_counts'] == PIXELS
    assert stats['image_counts'] == [2, 2, 2, 0]
    assert stats['image_pixel_counts'] == IMAGE_PIXELS
    assert stats['num_images'] == 3 and stats['classes'] == list(CLASSES)
    assert hook.class_weights == pytest.approx(MEDIAN_WEIGHTS)

    work_dir = tmp_path / 'work'
    [cache] = work_dir.glob('class_statistics_*.json')
    assert cache.name == f'class_statistics_{stats["fingerprint"][:16]}.json'
    assert len(stats['fingerprint']) == 40
    cached = json.loads(cache.read_text())
    assert cached['pixel_counts'] == PIXELS
    assert cached['fingerprint'] == stats['fingerprint']
    assert not [p for p in work_dir.iterdir() if p.name.startswith('.tmp')]
    png = work_dir / 'class_statistics.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    info = logged(runner)
    assert 'counting the label pixels of 3 training images' in info
    assert 'Class statistics of the training set: 3 images, 44 labelled ' \
        "pixels, scheme 'median_frequency'" in info
    assert '| id | class | pixels | frequency | images |          weight |' \
        in info
    assert '|  2 | c     |      6 | 1.364e-01 |      2 |          2.6250 |' \
        in info
    assert '|  3 | d     |      0 | 0.000e+00 |      0 | 0.0000 (absent) |' \
        in info
    assert str(png) in info


def test_weights_reach_the_losses(runner):
    hook = ClassStatisticsHook(scheme='median_frequency')
    hook.before_train(runner)
    model = runner.model
    weighted = {
        'decode_head.0.loss_decode': model.decode_head[0].loss_decode,
        'decode_head.1.loss_decode.0': model.decode_head[1].loss_decode[0],
        'auxiliary_head.loss_decode': model.auxiliary_head.loss_decode,
    }
    info = logged(runner)
    for name, loss in weighted.items():
        assert loss.class_weight == pytest.approx(MEDIAN_WEIGHTS)
        assert all(type(w) is float for w in loss.class_weight)
        assert loss.cls_criterion is ignore_safe_cross_entropy  # compat
        assert (f"class weights (median_frequency) set on {name} "
                f"(CrossEntropyLoss 'loss_ce'): [0.7875, 1.0, 2.625, 0.0]"
                ) in info
    sigmoid, dice = model.decode_head[1].loss_decode[1:]
    assert sigmoid.class_weight is None
    assert getattr(dice, 'class_weight', None) is None
    warnings = logged(runner, 'warning')
    assert 'decode_head.1.loss_decode.1 is CrossEntropyLoss (not a ' \
        'softmax CrossEntropyLoss)' in warnings
    assert 'decode_head.1.loss_decode.2 is DiceLoss' in warnings
    assert 'replacing the configured class_weight of ' \
        'decode_head.1.loss_decode.0' in warnings

    # The weighted losses take labels with ignored pixels.
    scores = torch.randn(2, 4, 4, 4)
    labels = torch.randint(0, 4, (2, 4, 4))
    labels[:, 0] = 255
    for loss in weighted.values():
        assert torch.isfinite(loss(scores, labels, ignore_index=255))


def test_loss_built_before_the_compat_fix_gets_it(runner):
    loss = runner.model.decode_head[0].loss_decode
    loss.cls_criterion = ignore_safe_cross_entropy.__wrapped__  # MMSeg's
    ClassStatisticsHook(scheme='inverse_log').before_train(runner)
    assert loss.cls_criterion is ignore_safe_cross_entropy


def test_scheme_none_leaves_the_losses(runner):
    hook = ClassStatisticsHook()
    hook.before_train(runner)
    assert hook.class_weights is None
    loss = runner.model.decode_head[0].loss_decode
    assert loss.class_weight is None
    assert runner.model.decode_head[1].loss_decode[0].class_weight == [1.0] * 4
    assert '|  0 | a     |     20 | 4.545e-01 |      2 |          - |' in \
        logged(runner)


def test_model_wrapper_is_unwrapped(tmp_path, data_root, monkeypatch):
    model = build_model()
    wrapper = Mock(spec=['module'])
    wrapper.module = model
    runner = mock_runner(tmp_path / 'work', build_dataset(data_root), wrapper)
    monkeypatch.setattr(module, 'is_model_wrapper', lambda m: m is wrapper)
    ClassStatisticsHook(scheme='inverse_log').before_train(runner)
    assert model.decode_head[0].loss_decode.class_weight is not None


def test_cache_is_reused_and_follows_the_labels(runner, data_root, tmp_path,
                                                monkeypatch):
    first = ClassStatisticsHook(scheme='median_frequency', plot=False)
    first.before_train(runner)
    assert not (tmp_path / 'work' / 'class_statistics.png').exists()

    again = mock_runner(tmp_path / 'work', build_dataset(data_root))
    with monkeypatch.context() as patch:
        forbid_reading(patch)
        second = ClassStatisticsHook(scheme='inverse_log')
        second.before_train(again)
    assert second.statistics == first.statistics
    assert 'loaded the class statistics from the cache' in logged(again)
    assert 'counting the label pixels' not in logged(again)

    # Changed labels: another fingerprint, counted again.
    maps = label_maps()
    maps[0][:] = 3
    write_dataset(data_root, maps)
    changed = mock_runner(tmp_path / 'work', build_dataset(data_root))
    third = ClassStatisticsHook()
    third.before_train(changed)
    assert 'counting the label pixels' in logged(changed)
    assert third.statistics['pixel_counts'] == [8, 14, 6, 16]
    assert len(list((tmp_path / 'work').glob('class_statistics_*.json'))) == 2


def test_cache_dir_and_corrupt_cache(runner, tmp_path):
    cache_dir = tmp_path / 'cache'
    hook = ClassStatisticsHook(cache_dir=str(cache_dir))
    hook.before_train(runner)
    [cache] = cache_dir.glob('class_statistics_*.json')
    assert not list((tmp_path / 'work').glob('*.json'))
    cache.write_text('{"truncat')
    again = ClassStatisticsHook(cache_dir=str(cache_dir))
    again.before_train(runner)
    assert f'ignoring the cache {cache}' in logged(runner, 'warning')
    assert again.statistics == hook.statistics
    assert json.loads(cache.read_text())['pixel_counts'] == PIXELS


def test_dataset_wrappers(tmp_path, data_root):
    dataset = build_dataset(data_root)
    repeated = mock_runner(tmp_path / 'a', RepeatDataset(dataset, times=3))
    hook = ClassStatisticsHook()
    hook.before_train(repeated)
    assert hook.statistics['pixel_counts'] == PIXELS  # each image once
    concat = mock_runner(tmp_path / 'b',
                         ConcatDataset([dataset, build_dataset(data_root)]))
    hook.before_train(concat)
    assert hook.statistics['pixel_counts'] == [2 * n for n in PIXELS]
    assert hook.statistics['num_images'] == 6


def test_reduce_zero_label_and_label_map(tmp_path, data_root):
    maps = [np.array([[0, 1, 2, 255], [4, 4, 3, 1]], np.uint8)]
    root = write_dataset(tmp_path / 'zero', maps)
    runner = mock_runner(tmp_path / 'work',
                         build_dataset(root, reduce_zero_label=True))
    hook = ClassStatisticsHook()
    hook.before_train(runner)
    # 0 and 255 are ignored; 1..4 become 0..3.
    assert hook.statistics['pixel_counts'] == [2, 1, 1, 2]

    # A label_map in the data info: b <-> c, and d dropped (255).
    dataset = build_dataset(data_root)
    for info in dataset.data_list:
        info['label_map'] = {1: 2, 2: 1, 3: 255}
    runner = mock_runner(tmp_path / 'work', dataset)
    hook.before_train(runner)
    assert hook.statistics['pixel_counts'] == [20, 6, 18, 0]


# Errors


def test_class_id_beyond_num_classes(tmp_path):
    maps = label_maps()
    maps[1][0, 0] = 7
    maps[1][0, 1] = 4
    root = write_dataset(tmp_path / 'data', maps)
    runner = mock_runner(tmp_path / 'work', build_dataset(root))
    with pytest.raises(ClassStatisticsError) as info:
        ClassStatisticsHook().before_train(runner)
    assert str(info.value) == (
        f'{root / "ann" / "1.png"}: expected label values < num_classes=4 '
        'or the ignore index 255, got [4, 7] (as stored)')
    assert not list((tmp_path / 'work').glob('*.json'))


def test_dataset_without_label_maps(tmp_path, data_root):
    dataset = build_dataset(data_root)
    dataset.data_list[1].pop('seg_map_path')
    runner = mock_runner(tmp_path / 'work', dataset)
    with pytest.raises(ClassStatisticsError) as info:
        ClassStatisticsHook().before_train(runner)
    assert str(info.value).startswith(
        "ClassStatisticsHook: expected every training sample to have a "
        "label map ('seg_map_path'), sample 1 of BaseSegDataset (data_root ")
    assert str(info.value).endswith('has None')


def test_dataset_without_labelled_pixels(tmp_path):
    maps = [np.full((4, 4), 255, np.uint8)] * 2
    root = write_dataset(tmp_path / 'data', maps)
    runner = mock_runner(tmp_path / 'work', build_dataset(root))
    with pytest.raises(ClassStatisticsError) as info:
        ClassStatisticsHook().before_train(runner)
    assert str(info.value) == (
        'ClassStatisticsHook: expected labelled pixels in the training set, '
        'got none in 2 label maps (all pixels are the ignore index 255), '
        f'e.g. {root / "ann" / "0.png"}')


def test_empty_dataset(tmp_path, data_root):
    dataset = build_dataset(data_root)
    dataset.data_list.clear()
    runner = mock_runner(tmp_path / 'work', dataset)
    with pytest.raises(ClassStatisticsError, match='got an empty training'):
        ClassStatisticsHook().before_train(runner)


def test_unreadable_label_map(tmp_path, data_root):
    path = data_root / 'ann' / '2.png'
    path.write_bytes(b'not a png')
    runner = mock_runner(tmp_path / 'work', build_dataset(data_root))
    with pytest.raises(ClassStatisticsError) as info:
        ClassStatisticsHook().before_train(runner)
    assert str(info.value).startswith(
        f'{path}: expected a readable label map, got ')


def test_heads_and_dataset_disagree(tmp_path, data_root):
    runner = mock_runner(tmp_path / 'work', build_dataset(data_root),
                         build_model(num_classes=5))
    with pytest.raises(ClassStatisticsError) as info:
        ClassStatisticsHook().before_train(runner)
    assert 'expected the heads and the training set to agree on the ' \
        'number of classes, got decode_head.0=5' in str(info.value)
    assert 'len(dataset.metainfo["classes"])=4' in str(info.value)


def test_train_dataloader_not_built(runner):
    runner.train_dataloader = dict(batch_size=2)
    with pytest.raises(TypeError, match='expected runner.train_dataloader '
                       'to be a built DataLoader in before_train, got dict'):
        ClassStatisticsHook().before_train(runner)


# Checkpoints


def plain(value) -> bool:
    """Whether ``value`` holds only plain Python types."""
    if isinstance(value, dict):
        return all(type(k) is str and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def test_checkpoint_meta_round_trip(runner, tmp_path, monkeypatch):
    hook = ClassStatisticsHook(scheme='median_frequency')
    checkpoint = dict(meta=dict(iter=4))
    hook.before_save_checkpoint(runner, checkpoint)  # before training: no-op
    assert checkpoint == dict(meta=dict(iter=4))
    hook.before_train(runner)
    hook.before_save_checkpoint(runner, checkpoint)
    meta = checkpoint['meta']
    assert meta['iter'] == 4
    assert meta['class_weight_scheme'] == 'median_frequency'
    assert meta['class_weights'] == pytest.approx(MEDIAN_WEIGHTS)
    assert meta['class_statistics']['pixel_counts'] == PIXELS
    assert plain(meta)
    torch.save(checkpoint, tmp_path / 'iter_4.pth')
    loaded = torch.load(tmp_path / 'iter_4.pth', weights_only=True)

    # No cache (another work dir): the checkpoint's counts, no recount.
    resumed = mock_runner(tmp_path / 'other_work', runner.train_dataloader
                          .dataset)
    again = ClassStatisticsHook(scheme='median_frequency')
    again.after_load_checkpoint(resumed, loaded)
    with monkeypatch.context() as patch:
        forbid_reading(patch)
        again.before_train(resumed)
    info = logged(resumed)
    assert 'took the class statistics from the loaded checkpoint' in info
    assert 'the class weights match those of the loaded checkpoint' in info
    assert again.class_weights == meta['class_weights']
    assert list((tmp_path / 'other_work').glob('class_statistics_*.json'))
    checkpoint = dict(meta={})
    again.before_save_checkpoint(resumed, checkpoint)
    assert checkpoint['meta']['class_weights'] == meta['class_weights']

    # Another scheme than the checkpoint's: a warning, the new weights.
    switched = ClassStatisticsHook(scheme='inverse_log')
    switched.after_load_checkpoint(resumed, loaded)
    switched.before_train(resumed)
    assert "the loaded checkpoint was trained with scheme " \
        "'median_frequency', this run uses 'inverse_log'" in logged(
            resumed, 'warning')
    assert switched.class_weights != meta['class_weights']


def test_checkpoint_of_other_labels_is_not_used(runner, tmp_path):
    hook = ClassStatisticsHook(scheme='median_frequency')
    checkpoint = dict(
        meta=dict(
            class_weight_scheme='median_frequency',
            class_weights=[1.0, 1.0, 1.0, 1.0],
            class_statistics=dict(
                fingerprint='0' * 40, pixel_counts=[1, 1, 1, 1])))
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    assert 'counting the label pixels' in logged(runner)
    assert hook.statistics['pixel_counts'] == PIXELS
    assert "trained with other 'median_frequency' weights" in logged(
        runner, 'warning')


# Rare classes


def test_rare_classes_reach_the_transforms(tmp_path, data_root):
    crops = [FakeRareCrop(), FakeRareCrop()]
    dataset = build_dataset(data_root, pipeline=[crops[0], lambda r: r])
    other = build_dataset(data_root, pipeline=[crops[1]])
    runner = mock_runner(tmp_path / 'work', ConcatDataset([dataset, other]))
    hook = ClassStatisticsHook(num_rare_classes=2)
    hook.before_train(runner)
    # Fewest pixels first among the classes present: c (12), b (36).
    assert hook.rare_classes == [2, 1]
    assert crops[0].rare == crops[1].rare == [2, 1]
    assert "rare classes [(2, 'c'), (1, 'b')] set on 2 transform(s) " \
        '(FakeRareCrop)' in logged(runner)

    # More than there are: all classes present, never the absent d.
    hook = ClassStatisticsHook(num_rare_classes=10)
    hook.before_train(runner)
    assert crops[0].rare == [2, 1, 0]


def test_rare_classes_without_a_transform(runner):
    hook = ClassStatisticsHook(num_rare_classes=1)
    hook.before_train(runner)
    assert hook.rare_classes == [2]
    assert 'no transform of the train pipeline has set_rare_classes' in \
        logged(runner, 'warning')


@pytest.mark.parametrize('persistent', [False, True])
def test_rare_classes_reach_started_workers(tmp_path, data_root, persistent):
    crop = FakeRareCrop()
    runner = mock_runner(
        tmp_path / 'work',
        build_dataset(data_root, pipeline=[crop]),
        num_workers=1,
        persistent_workers=persistent,
        collate_fn=list)
    # As IterBasedTrainLoop.__init__ does: the worker starts, with its copy
    # of the transform, before before_train.
    stale = _InfiniteDataloaderIterator(runner.train_dataloader)
    runner.train_loop.dataloader_iterator = stale
    ClassStatisticsHook(num_rare_classes=1).before_train(runner)
    iterator = runner.train_loop.dataloader_iterator
    assert iterator is not stale
    assert next(iterator) == [dict(rare=[2])]  # the worker's copy
    assert 'restarted the data loader workers' in logged(runner)
    assert stale._iterator._shutdown  # its worker was stopped


# Distributed: rank 0 collects, the others receive


def test_other_ranks_receive_stored_statistics(runner, tmp_path,
                                                monkeypatch):
    counted = ClassStatisticsHook(scheme='median_frequency')
    counted.before_train(runner)
    sent = ('ok', counted.statistics)  # rank 0 found them stored

    def broadcast(data, src=0):
        assert src == 0 and data == [None]  # rank 1 sends nothing
        data[0] = sent

    rank1 = mock_runner(tmp_path / 'rank1_work', runner.train_dataloader
                        .dataset)
    monkeypatch.setattr(module, 'get_rank', lambda: 1)
    monkeypatch.setattr(module, 'is_main_process', lambda: False)
    monkeypatch.setattr(module, 'broadcast_object_list', broadcast)
    forbid_reading(monkeypatch)
    hook = ClassStatisticsHook(scheme='median_frequency')
    hook.before_train(rank1)
    assert hook.class_weights == counted.class_weights
    assert rank1.model.decode_head[0].loss_decode.class_weight == \
        counted.class_weights
    assert not (tmp_path / 'rank1_work').exists()  # no files
    assert not rank1.logger.info.called  # no log

    sent = ('error', 'ClassStatisticsError: sample.png: expected ...')
    with pytest.raises(RuntimeError) as info:
        ClassStatisticsHook().before_train(rank1)
    assert str(info.value) == (
        'ClassStatisticsHook: rank 0 failed: '
        'ClassStatisticsError: sample.png: expected ...')


def test_ranks_count_their_share_and_sum_it(runner, tmp_path, monkeypatch):
    full = ClassStatisticsHook(scheme='median_frequency')
    full.before_train(runner)
    dataset = runner.train_dataloader.dataset
    bases = module._base_datasets(dataset)
    hook = ClassStatisticsHook(scheme='median_frequency')
    samples = hook._samples(bases)
    rank0_part = ('ok',
                  hook._count(bases, samples[0::2],
                              full.statistics['num_classes'],
                              full.statistics['ignore_index']))
    shares = []

    def gather(part):
        shares.append(part)
        return [rank0_part, part]

    monkeypatch.setattr(module, 'get_rank', lambda: 1)
    monkeypatch.setattr(module, 'get_dist_info', lambda: (1, 2))
    monkeypatch.setattr(module, 'is_main_process', lambda: False)
    monkeypatch.setattr(module, 'broadcast_object_list',
                        lambda data, src=0: data.__setitem__(0, ('ok', None)))
    monkeypatch.setattr(module, 'all_gather_object', gather)
    rank1 = mock_runner(tmp_path / 'rank1_work', dataset)
    hook.before_train(rank1)
    [(status, part)] = shares
    assert status == 'ok'
    assert part['num_images'] == len(samples[1::2]) < len(samples)
    for key in ('num_images', 'pixel_counts', 'image_counts',
                'image_pixel_counts'):
        assert hook.statistics[key] == full.statistics[key]
    assert hook.class_weights == full.class_weights
    assert not (tmp_path / 'rank1_work').exists()  # rank 0 writes


def test_rank0_error_reaches_the_other_ranks(tmp_path, monkeypatch):
    root = write_dataset(tmp_path / 'data', [np.full((2, 2), 9, np.uint8)])
    runner = mock_runner(tmp_path / 'work', build_dataset(root))
    sent = []
    monkeypatch.setattr(module, 'all_gather_object',
                        lambda data: sent.append(data) or [data])
    with pytest.raises(ClassStatisticsError, match='got \\[9\\]'):
        ClassStatisticsHook().before_train(runner)
    [(status, message)] = sent
    assert status == 'error'
    assert message.startswith('ClassStatisticsError: ')
    assert 'got [9]' in message


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / 'cache' / 'stats.json'

    def fail(src, dst):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'replace', fail)
    with pytest.raises(OSError):
        module._write_atomic(str(target), b'{}')
    assert not target.exists()
    assert not list(target.parent.iterdir())  # no temporary file left


def test_failed_cache_write_is_a_warning(runner, monkeypatch):
    def fail(path, data):
        raise OSError('read-only file system')

    monkeypatch.setattr(module, '_write_atomic', fail)
    hook = ClassStatisticsHook(scheme='inverse_log')
    hook.before_train(runner)  # trains on with the counted statistics
    assert hook.class_weights is not None
    warnings = ' '.join(str(c) for c in runner.logger.warning.call_args_list)
    assert 'could not write the cache' in warnings
    assert 'read-only file system' in warnings
