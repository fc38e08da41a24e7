"""The loaders that name the image or label map they cannot read, or the
label map that does not fit its classes or image."""
import cv2
import numpy as np
import pytest
from mmseg.registry import TRANSFORMS

from mmseg_ocr_plus.datasets.transforms import (
    InvalidLabelMapError,
    LoadAnnotationsChecked,
    LoadImageFromFileChecked,
    UnreadableImageError,
)

BACKENDS = ('cv2', 'pillow')


@pytest.fixture
def files(tmp_path):
    """A good PNG and three broken ones."""
    image = np.random.default_rng(0).integers(0, 19, (8, 12, 3), np.uint8)
    good = tmp_path / 'good.png'
    cv2.imwrite(str(good), image)
    cut = tmp_path / 'cut.png'
    cut.write_bytes(good.read_bytes()[:60])  # a cut-off download
    text = tmp_path / 'text.png'
    text.write_bytes(b'<html>404 Not Found</html>')
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    return dict(good=good, cut=cut, text=text, empty=empty)


def load_image(path, backend):
    return LoadImageFromFileChecked(imdecode_backend=backend)(
        dict(img_path=str(path)))


def load_seg_map(path, backend):
    return LoadAnnotationsChecked(imdecode_backend=backend)(
        dict(
            seg_map_path=str(path), reduce_zero_label=False, seg_fields=[]))


def test_registered():
    for name in ('LoadImageFromFileChecked', 'LoadAnnotationsChecked'):
        assert TRANSFORMS.get(name) is not None, name
    assert issubclass(UnreadableImageError, OSError)


@pytest.mark.parametrize('backend', BACKENDS)
def test_good_files_load_as_before(files, backend):
    results = load_image(files['good'], backend)
    assert results['img'].shape == (8, 12, 3)
    assert results['img_shape'] == results['ori_shape'] == (8, 12)
    results = load_seg_map(files['good'], backend)
    assert results['gt_seg_map'].dtype == np.uint8
    assert results['seg_fields'] == ['gt_seg_map']


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('broken', ['cut', 'text', 'empty'])
@pytest.mark.parametrize('load, key', [(load_image, 'img_path'),
                                       (load_seg_map, 'seg_map_path')])
def test_broken_file_is_named(files, backend, broken, load, key):
    path = files[broken]
    with pytest.raises(UnreadableImageError) as info:
        load(path, backend)
    message = str(info.value)
    assert message.startswith(f'{path}: not a readable image (expected a '
                              f"PNG/JPEG file that the '{backend}' backend")
    assert f'got {path.stat().st_size} bytes' in message
    assert message.endswith(f"read from results['{key}']")
    assert '\n' not in message and ' object at 0x' not in message


@pytest.mark.parametrize('load, key', [(load_image, 'img_path'),
                                       (load_seg_map, 'seg_map_path')])
def test_missing_file_is_named(tmp_path, load, key):
    path = tmp_path / 'missing.png'
    with pytest.raises(UnreadableImageError,
                       match=rf"no such file .*results\['{key}'\]"):
        load(path, 'cv2')


def test_ignore_empty_still_skips(files):
    transform = LoadImageFromFileChecked(ignore_empty=True)
    assert transform(dict(img_path=str(files['text']))) is None


def test_config_mismatch_is_not_blamed_on_the_file(files):
    transform = LoadAnnotationsChecked(reduce_zero_label=True)
    with pytest.raises(AssertionError, match='reduce_zero_label'):
        transform(
            dict(
                seg_map_path=str(files['good']),
                reduce_zero_label=False,
                seg_fields=[]))


def label_file(tmp_path, values, name='label.png'):
    """A single-channel PNG label map of 4x6 pixels holding ``values``."""
    label = np.resize(np.array(values, np.uint8), (4, 6))
    path = tmp_path / name
    cv2.imwrite(str(path), label)
    return path


def check(path, num_classes=19, ori_shape=(4, 6), **results):
    transform = LoadAnnotationsChecked(num_classes=num_classes)
    return transform(
        dict(
            seg_map_path=str(path),
            img_path='image.png',
            ori_shape=ori_shape,
            reduce_zero_label=results.pop('reduce_zero_label', False),
            seg_fields=[],
            **results))


def test_class_indices_and_ignore_pass(tmp_path):
    path = label_file(tmp_path, [0, 18, 255, 7])
    assert check(path)['gt_seg_map'].shape == (4, 6)
    # Without num_classes the values are not checked (MMSeg's behaviour).
    bad = label_file(tmp_path, [25], 'bad.png')
    LoadAnnotationsChecked()(
        dict(seg_map_path=str(bad), reduce_zero_label=False, seg_fields=[]))


def test_out_of_range_values_are_named(tmp_path):
    path = label_file(tmp_path, [0, 25, 255, 25, 30, 3])
    with pytest.raises(InvalidLabelMapError) as info:
        check(path)
    assert str(info.value) == (
        f'{path}: label map holds 25 (8 pixels), 30 (4 pixels); expected '
        'class indices 0-18 (19 classes) or the ignore index 255')
    assert isinstance(info.value, ValueError)


def test_values_are_checked_after_reduce_zero_label_and_label_map(tmp_path):
    # reduce_zero_label: 0 -> 255 (ignored), 1..19 -> 0..18, 20 -> 19.
    path = label_file(tmp_path, [0, 19, 20])
    with pytest.raises(InvalidLabelMapError,
                       match=r': label map holds 19 \(8 pixels\) after '
                       r'reduce_zero_label; expected class indices 0-18'):
        check(path, reduce_zero_label=True)
    check(label_file(tmp_path, [0, 19], 'ok.png'), reduce_zero_label=True)
    # label_map: the dataset's subset of classes, others to 255.
    path = label_file(tmp_path, [3, 5, 7], 'subset.png')
    check(path, num_classes=2, label_map={3: 0, 5: 1, 7: 255})
    with pytest.raises(InvalidLabelMapError,
                       match=r'holds 7 \(8 pixels\) after label_map'):
        check(path, num_classes=2, label_map={3: 0, 5: 1})


def test_size_other_than_the_image_is_named(tmp_path):
    path = label_file(tmp_path, [1])
    with pytest.raises(InvalidLabelMapError) as info:
        check(path, ori_shape=(4, 7))
    assert str(info.value) == (
        f'{path}: label map of 4x6 (HxW), expected the size of its image '
        'image.png, 4x7')
