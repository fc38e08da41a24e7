"""The loaders that name the image or label map they cannot read."""
import cv2
import numpy as np
import pytest
from mmseg.registry import TRANSFORMS

from mmseg_ocr_plus.datasets.transforms import (
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
