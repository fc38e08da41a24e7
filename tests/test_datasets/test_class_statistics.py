"""``count_class_pixels`` and the weight schemes on tiny label maps.

The training set: three 4x4 label maps of classes ``a b c d`` (``d`` never
occurs) and the ignore index 255::

    class               a   b   c   d
    pixels             20  18   6   0
    images              2   2   2   0
    pixels of images   28  32  28   0   (labelled pixels where it occurs)
"""
import math
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from class_statistics_data import (
    CLASSES,
    IMAGE_PIXELS,
    IMAGES,
    MEDIAN_WEIGHTS,
    PIXELS,
    label_maps,
    write_dataset,
)
from mmengine.dataset import ConcatDataset, RepeatDataset
from mmseg.datasets import BaseSegDataset
from PIL import Image

from mmseg_ocr_plus.datasets import class_statistics
from mmseg_ocr_plus.datasets.class_statistics import (
    ClassStatisticsError,
    check_options,
    compute_class_weights,
    count_class_pixels,
    format_table,
    label_samples,
    rarest_classes,
)


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


@pytest.fixture
def dataset(tmp_path) -> BaseSegDataset:
    return build_dataset(write_dataset(tmp_path / 'data', label_maps()))


def test_error_is_a_value_error_only():
    assert ClassStatisticsError.__bases__ == (ValueError, )


def test_counts(dataset):
    counts = count_class_pixels(dataset)
    assert counts == dict(
        classes=list(CLASSES),
        num_classes=4,
        ignore_index=255,
        num_images=3,
        pixel_counts=PIXELS,
        image_counts=IMAGES,
        image_pixel_counts=IMAGE_PIXELS)
    assert all(type(n) is int for n in counts['pixel_counts'])


def test_parts_sum_to_the_whole(dataset):
    shards = [count_class_pixels(dataset, slice(r, None, 2)) for r in (0, 1)]
    assert [s['num_images'] for s in shards] == [2, 1]
    for key in ('pixel_counts', 'image_counts', 'image_pixel_counts'):
        assert [a + b for a, b in zip(shards[0][key], shards[1][key])
                ] == count_class_pixels(dataset)[key]
    # A range of indices: the second label map only.
    assert count_class_pixels(dataset, slice(1, 2))['pixel_counts'] == [
        8, 0, 4, 0
    ]
    empty = count_class_pixels(dataset, slice(0))  # no label map read
    assert empty['num_images'] == 0 and empty['pixel_counts'] == [0] * 4
    assert empty['classes'] == list(CLASSES)


def test_wrappers_are_looked_through(dataset):
    assert count_class_pixels(RepeatDataset(dataset, times=3))[
        'pixel_counts'] == PIXELS  # each image once
    concat = count_class_pixels(ConcatDataset([dataset, dataset]))
    assert concat['pixel_counts'] == [2 * n for n in PIXELS]
    assert concat['num_images'] == 6
    assert len(label_samples(RepeatDataset(dataset, times=2))) == 3


def test_reduce_zero_label_and_label_map(tmp_path, dataset):
    maps = [np.array([[0, 1, 2, 255], [4, 4, 3, 1]], np.uint8)]
    root = write_dataset(tmp_path / 'zero', maps)
    counts = count_class_pixels(build_dataset(root, reduce_zero_label=True))
    # 0 and 255 are ignored; 1..4 become 0..3.
    assert counts['pixel_counts'] == [2, 1, 1, 2]

    # A label_map in the data info: b <-> c, and d dropped (255).
    for info in dataset.data_list:
        info['label_map'] = {1: 2, 2: 1, 3: 255}
    assert count_class_pixels(dataset)['pixel_counts'] == [20, 6, 18, 0]


def test_reads_with_the_pipelines_load_annotations(tmp_path, monkeypatch):
    root = write_dataset(tmp_path / 'data', label_maps())
    dataset = build_dataset(
        root, pipeline=[dict(type='LoadAnnotations', imdecode_backend='cv2')])
    backends = []
    imfrombytes = class_statistics.mmcv.imfrombytes

    def recording(content, flag, backend):
        backends.append(backend)
        return imfrombytes(content, flag=flag, backend=backend)

    monkeypatch.setattr(class_statistics.mmcv, 'imfrombytes', recording)
    assert count_class_pixels(dataset)['pixel_counts'] == PIXELS
    assert backends == ['cv2'] * 3


# Weights


def test_weight_schemes(dataset):
    counts = count_class_pixels(dataset)
    assert compute_class_weights(counts, 'none') is None
    share = [n / 44 for n in PIXELS[:3]]
    assert compute_class_weights(counts, 'inverse_log') == pytest.approx(
        [1 / math.log(1.02 + p) for p in share] + [0.0])
    assert compute_class_weights(
        counts, 'inverse_log', enet_c=1.5) == pytest.approx(
            [1 / math.log(1.5 + p) for p in share] + [0.0])
    weights = compute_class_weights(counts, 'median_frequency')
    assert weights == pytest.approx(MEDIAN_WEIGHTS)
    assert all(type(w) is float for w in weights)


def test_rarest_classes(dataset):
    counts = count_class_pixels(dataset)
    assert rarest_classes(counts, 2) == [2, 1]  # c, b; never the absent d
    assert rarest_classes(counts, 10) == [2, 1, 0]
    assert rarest_classes(dict(pixel_counts=[5, 3, 3, 0]), 2) == [1, 2]
    assert rarest_classes(counts, 0) == []


def test_table(dataset):
    counts = count_class_pixels(dataset)
    table = format_table(counts, compute_class_weights(
        counts, 'median_frequency'), 'median_frequency')
    assert table.startswith(
        'Class statistics of the training set: 3 images, 44 labelled '
        "pixels, scheme 'median_frequency'\n")
    assert '| id | class | pixels | frequency | images |          weight |' \
        in table
    assert '|  2 | c     |      6 | 1.364e-01 |      2 |          2.6250 |' \
        in table
    assert '|  3 | d     |      0 | 0.000e+00 |      0 | 0.0000 (absent) |' \
        in table
    assert '|  0 | a     |     20 | 4.545e-01 |      2 |          - |' in \
        format_table(counts)


# Errors


@pytest.mark.parametrize('scheme', ['enet', 'Median_Frequency', ''])
def test_unknown_scheme(dataset, scheme):
    message = ("expected scheme to be one of 'none', 'inverse_log', "
               f"'median_frequency', got {scheme!r}")
    with pytest.raises(ClassStatisticsError) as info:
        check_options(scheme)
    assert str(info.value) == message
    with pytest.raises(ClassStatisticsError, match='expected scheme'):
        compute_class_weights(count_class_pixels(dataset), scheme)


@pytest.mark.parametrize('num', [-1, 1.5, True, '2'])
def test_bad_num_rare_classes(num):
    with pytest.raises(ClassStatisticsError,
                       match='expected num_rare_classes to be an int >= 0'):
        check_options('none', num)


def test_label_beyond_num_classes(tmp_path):
    maps = label_maps()
    maps[1][0, 0] = 7
    maps[1][0, 1] = 4
    root = write_dataset(tmp_path / 'data', maps)
    with pytest.raises(ClassStatisticsError) as info:
        count_class_pixels(build_dataset(root))
    assert str(info.value) == (
        f'{root / "ann" / "1.png"}: expected label values < num_classes=4 '
        'or the ignore index 255, got [4, 7] (as stored)')
    root = write_dataset(tmp_path / 'zero', [np.full((2, 2), 9, np.uint8)])
    with pytest.raises(ClassStatisticsError,
                       match=r'got \[8\] \(after reduce_zero_label'):
        count_class_pixels(build_dataset(root, reduce_zero_label=True))


def test_sample_without_label_map(dataset):
    dataset.data_list[1].pop('seg_map_path')
    with pytest.raises(ClassStatisticsError) as info:
        count_class_pixels(dataset)
    assert str(info.value) == (
        f"BaseSegDataset (data_root {dataset.data_root!r}): expected every "
        "sample to have a label map ('seg_map_path'), sample 1 has none")


@pytest.mark.parametrize('empty', [False, True])
def test_no_labelled_pixels(tmp_path, dataset, empty):
    if empty:
        dataset.data_list.clear()
        num = 0
    else:
        root = write_dataset(tmp_path / 'ignored',
                             [np.full((4, 4), 255, np.uint8)] * 2)
        dataset, num = build_dataset(root), 2
    counts = count_class_pixels(dataset)
    with pytest.raises(ClassStatisticsError) as info:
        compute_class_weights(counts, 'none')
    assert str(info.value) == (
        f'expected labelled pixels in the training set, got none in its '
        f'{num} label maps (all ignore index 255)')


def test_unreadable_label_map(dataset):
    path = Path(dataset.data_root) / 'ann' / '2.png'
    path.write_bytes(b'not a png')
    with pytest.raises(ClassStatisticsError) as info:
        count_class_pixels(dataset)
    assert str(info.value).startswith(
        f'{path}: expected a readable label map, got ')
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    with pytest.raises(ClassStatisticsError, match='single-channel'):
        count_class_pixels(dataset)


def test_dataset_without_classes(dataset):
    dataset._metainfo['classes'] = None
    with pytest.raises(ClassStatisticsError,
                       match=r'BaseSegDataset: expected metainfo\["classes"'):
        count_class_pixels(dataset)
