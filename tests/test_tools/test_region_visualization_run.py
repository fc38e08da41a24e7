"""RegionVisualizationHook in real short runs: ``tools/train.py`` validating
twice, then ``tools/test.py`` on its checkpoint, on the tiny demo dataset of
``conftest.py`` (4 validation images of 64x128)."""
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest

NUM_IMAGES = 2
ORI = (64, 128)  # (h, w) of the demo images


@pytest.fixture(scope='module')
def runs(tmp_path_factory, start_tool, finish_tool, tiny_options,
         demo_data_root, write_hook_config) -> dict:
    """Train 2 iterations validating after each, then test the checkpoint.

    Returns:
        dict: ``train_dir`` and ``test_dir`` (work dirs) and their
        ``CompletedProcess`` as ``train`` and ``test``.
    """
    root = tmp_path_factory.mktemp('region_visualization')
    config = write_hook_config(
        root / 'regions.py',
        [dict(type='RegionVisualizationHook', num_images=NUM_IMAGES)])
    options = tiny_options(
        demo_data_root, **{
            'train_cfg.max_iters': 2,
            'train_cfg.val_begin': 1,
            'train_cfg.val_interval': 1,  # validate at iterations 1 and 2
            'default_hooks.checkpoint.interval': 2,
        })
    train = finish_tool(
        start_tool('train', config, '--work-dir', root / 'train',
                   '--cfg-options', *options))
    result = dict(
        train=train, train_dir=root / 'train', test_dir=root / 'test')
    if train.returncode == 0:
        result['test'] = finish_tool(
            start_tool('test', config, root / 'train/iter_2.pth',
                       '--work-dir', root / 'test', '--cfg-options',
                       *options))
    return result


def pictures(work_dir: Path, prefix: str) -> List[Path]:
    """The hook's pictures, where MMEngine's ``LocalVisBackend`` puts them
    (``<timestamp>/vis_data/vis_image/<name>_<step>.png``)."""
    return sorted(work_dir.glob(f'*/vis_data/vis_image/{prefix}_regions_*'))


def check_picture(path: Path) -> None:
    """Two rows of four 64x128 tiles (image, ground truth, prediction,
    blank; three soft regions and an attention map), each drawn."""
    picture = cv2.imread(str(path))
    assert picture is not None, path
    assert picture.shape == (2 * ORI[0], 4 * ORI[1], 3), path
    tiles = [
        picture[r * ORI[0]:(r + 1) * ORI[0], c * ORI[1]:(c + 1) * ORI[1]]
        for r in range(2) for c in range(4)
    ]
    image = tiles[0].astype(np.int16)
    for i in (1, 2, 4, 5, 6, 7):  # all but the image and the blank tile
        difference = np.abs(tiles[i].astype(np.int16) - image).mean()
        assert difference > 5, f'{path}: tile {i} looks like the image'
    assert tiles[3].std() < 1  # blank
    assert tiles[0].std() > 10  # the demo image


def test_validation_draws_num_images_per_epoch(runs, demo_data_root):
    result = runs['train']
    assert result.returncode == 0, result.stderr
    paths = pictures(runs['train_dir'], 'val')
    stems = {p.stem for p in (demo_data_root / 'leftImg8bit/val').rglob(
        '*.png')}
    # NUM_IMAGES per validation, at iterations 1 and 2.
    assert len(paths) == 2 * NUM_IMAGES, paths
    for step in (1, 2):
        drawn = [p for p in paths if p.stem.endswith(f'_{step}')]
        assert len(drawn) == NUM_IMAGES, paths
        names = {p.stem[len('val_regions_'):-len(f'_{step}')] for p in drawn}
        assert len(names) == NUM_IMAGES and names <= stems, names
    for path in paths:
        check_picture(path)


def test_test_tool_draws_num_images(runs):
    assert runs['train'].returncode == 0, runs['train'].stderr
    result = runs['test']
    assert result.returncode == 0, result.stderr
    paths = pictures(runs['test_dir'], 'test')
    assert len(paths) == NUM_IMAGES, paths
    for path in paths:
        check_picture(path)
