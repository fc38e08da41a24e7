"""``tools/test.py`` end to end: metrics, pictures and predictions from a
checkpoint of the tiny training in ``conftest.py``, and bad inputs."""
import json
import re
import shutil

import cv2
import pytest
from demo_scenes import CLASSES

from mmseg_ocr_plus.utils.preflight import InvalidInputError


@pytest.fixture(scope='module')
def runs(request, selected_tests, tmp_path_factory, start_tool, finish_tool,
         demo_config, tiny_options, demo_data_root):
    """Start the test runs of the selected tests together; wait for all.

    They test the last checkpoint of the uninterrupted 6-iteration
    training of ``conftest.py``.

    Returns:
        dict: Per run, its paths and its ``CompletedProcess``.
    """
    root = tmp_path_factory.mktemp('test')
    trained = request.getfixturevalue('reference_and_killed_runs')
    assert trained['reference_result'].returncode == 0, (
        trained['reference_result'].stderr)
    checkpoint = trained['reference'] / 'iter_6.pth'
    paths, started = {}, {}
    if 'test_metrics_pictures_and_predictions' in selected_tests:
        paths.update(
            metrics_dir=root / 'metrics',
            show_dir=root / 'pictures',
            out_dir=root / 'predictions')
        started['metrics'] = start_tool(
            'test', demo_config, checkpoint, '--work-dir',
            paths['metrics_dir'], '--show-dir', paths['show_dir'], '--out',
            paths['out_dir'], '--cfg-options', *tiny_options(demo_data_root))
    if 'test_corrupt_label_map' in selected_tests:
        data_root = shutil.copytree(demo_data_root, root / 'corrupt_data')
        corrupt = sorted((data_root / 'gtFine/val').rglob('*.png'))[2]
        corrupt.write_bytes(b'GIF89a, not a PNG')  # wrong content
        paths['corrupt_file'] = corrupt
        started['corrupt'] = start_tool('test', demo_config, checkpoint,
                                        '--work-dir', root / 'corrupt',
                                        '--cfg-options',
                                        *tiny_options(data_root))
    return {**paths, **{k: finish_tool(p) for k, p in started.items()}}


def test_metrics_pictures_and_predictions(runs, demo_data_root):
    result = runs['metrics']
    assert result.returncode == 0, result.stderr

    # The per-class table and the summary, as MMSeg's IoUMetric logs them.
    assert 'per class results:' in result.stdout
    table = result.stdout.split('per class results:')[1]
    for name in CLASSES:
        assert re.search(rf'\|\s+{re.escape(name)}\s+\|', table), name
    metrics_files = list(runs['metrics_dir'].glob('*/*.json'))
    assert len(metrics_files) == 1
    metrics = json.loads(metrics_files[0].read_text())
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert 0 <= metrics[key] <= 100, metrics
        assert f'{key}: ' in result.stdout

    # --show-dir: a picture per image, where MMEngine's visualizer puts it.
    val_images = sorted((demo_data_root / 'leftImg8bit/val').rglob('*.png'))
    pictures = sorted(
        (runs['show_dir'] / 'vis_data/vis_image').glob('*.png'))
    assert len(pictures) == len(val_images) == 4
    for picture in pictures:
        assert cv2.imread(str(picture)) is not None, picture
    # --out: a label map per image, the size of the image.
    predictions = sorted(runs['out_dir'].glob('*.png'))
    assert len(predictions) == len(val_images)
    for prediction in predictions:
        label_map = cv2.imread(str(prediction), cv2.IMREAD_UNCHANGED)
        assert label_map.shape == (64, 128)
        assert label_map.max() < len(CLASSES)


def test_corrupt_label_map(runs):
    result = runs['corrupt']
    assert result.returncode == 2, result.stderr
    assert 'Traceback' not in result.stderr, result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == (
        f"test.py: error: {runs['corrupt_file']}: not a readable image "
        "(expected a PNG/JPEG file that the 'pillow' backend can decode, "
        'got 17 bytes it could not decode: UnidentifiedImageError: cannot '
        "identify image file); read from results['seg_map_path']")


def test_missing_checkpoint(tmp_path, monkeypatch, load_tool, demo_config,
                            tiny_options, demo_data_root):
    # In this process: the check runs before anything is built.
    monkeypatch.setenv('LOCAL_RANK', '0')
    work_dir = tmp_path / 'work_dir'
    missing = tmp_path / 'iter_600.pth'
    with pytest.raises(
            InvalidInputError,
            match=rf"^checkpoint '{re.escape(str(missing))}': expected a "
            'checkpoint file'):
        load_tool('test').main([
            str(demo_config),
            str(missing), '--work-dir',
            str(work_dir), '--cfg-options', *tiny_options(demo_data_root)
        ])
    assert not work_dir.exists()
