"""SegFix end to end on the tiny demo dataset of ``conftest.py``:
``tools/train.py`` trains the demo SegFix config for 2 iterations, then
``tools/segfix_refine.py`` refines a prediction directory with it and
reports mIoU and boundary F before and after."""
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = (REPO / 'configs/segfix/'
          'segfix_hr18s_1xb8-200it_demo-cityscapes-128x128.py')


def options(data_root):
    """Shrink the demo SegFix config to 2 iterations of 2 64x64 crops."""
    return [
        f'{key}={value}' for key, value in {
            'train_dataloader.dataset.pipeline.2.scale': '(128,64)',
            'train_dataloader.dataset.pipeline.3.crop_size': '(64,64)',
            'model.data_preprocessor.size': '(64,64)',
            'train_dataloader.batch_size': 2,
            'train_cfg.max_iters': 2,
            'param_scheduler.0.end': 1,
            'param_scheduler.1.begin': 1,
            'param_scheduler.1.end': 2,
            'default_hooks.checkpoint.interval': 2,
            'test_dataloader.dataset.pipeline.1.scale': '(128,64)',
            **{
                f'{split}_dataloader.{key}': value
                for split in ('train', 'test') for key, value in (
                    ('dataset.data_root', data_root),
                    ('num_workers', 0),
                    ('persistent_workers', False),
                    ('dataset.serialize_data', False),
                )
            },
        }.items()
    ]


@pytest.fixture(scope='module')
def runs(tmp_path_factory, demo_data_root, start_tool, finish_tool):
    """Train, then refine two prediction directories together: the ground
    truth itself (all four maps) and one with a map missing."""
    root = tmp_path_factory.mktemp('segfix')
    trained = finish_tool(
        start_tool('train', CONFIG, '--work-dir', root / 'train',
                   '--cfg-options', *options(demo_data_root)))
    assert trained.returncode == 0, trained.stderr[-3000:]
    checkpoint = root / 'train/iter_2.pth'
    assert checkpoint.is_file()

    # The ground truth as predictions, named as tools/test.py --out names
    # them (after the image).
    preds = root / 'preds'
    preds.mkdir()
    for label in sorted((demo_data_root / 'gtFine/val').rglob('*.png')):
        name = label.name.replace('gtFine_labelTrainIds', 'leftImg8bit')
        shutil.copy(label, preds / name)
    incomplete = shutil.copytree(preds, root / 'incomplete')
    missing = sorted(incomplete.glob('*.png'))[1]
    missing.unlink()

    started = {
        'refined':
        start_tool('segfix_refine', CONFIG, checkpoint, '--pred-dir', preds,
                   '--out', root / 'refined', '--cfg-options',
                   *options(demo_data_root)),
        'missing':
        start_tool('segfix_refine', CONFIG, checkpoint, '--pred-dir',
                   incomplete, '--out', root / 'out2', '--cfg-options',
                   *options(demo_data_root)),
    }
    return dict(
        preds=preds,
        out=root / 'refined',
        missing_name=missing.name,
        **{k: finish_tool(p)
           for k, p in started.items()})


def test_refines_every_map_and_reports_before_after(runs):
    result = runs['refined']
    assert result.returncode == 0, result.stderr[-3000:]
    inputs = sorted(runs['preds'].glob('*.png'))
    outputs = sorted(runs['out'].glob('*.png'))
    assert [p.name for p in outputs] == [p.name for p in inputs]
    assert len(outputs) == 4
    for before, after in zip(inputs, outputs):
        label = cv2.imread(str(before), cv2.IMREAD_UNCHANGED)
        refined = cv2.imread(str(after), cv2.IMREAD_UNCHANGED)
        assert refined.shape == label.shape == (64, 128)
        assert set(np.unique(refined)) <= set(np.unique(label))  # no new id
    metrics = json.loads((runs['out'] / 'segfix_metrics.json').read_text())
    # The inputs are the ground truth: perfect before refinement.
    assert metrics['before'] == {
        'mIoU': 100.0, 'bF@1': 100.0, 'bF@3': 100.0, 'bF@5': 100.0}
    assert set(metrics['after']) == set(metrics['before'])
    assert all(0 <= v <= 100 for v in metrics['after'].values())
    assert '| before | 100.00 | 100.00 | 100.00 | 100.00 |' in result.stdout


def test_missing_label_map_is_one_line(runs):
    result = runs['missing']
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith('segfix_refine.py: error: --pred-dir: '
                                f'expected a label map {runs["missing_name"]}')
    assert 'Traceback' not in result.stderr


def test_missing_pred_dir(load_tool, tmp_path):
    tool = load_tool('segfix_refine')
    from mmseg_ocr_plus.utils.preflight import InvalidInputError
    with pytest.raises(InvalidInputError, match='--pred-dir .*found nothing'):
        tool.main([
            str(CONFIG),
            str(CONFIG), '--pred-dir',
            str(tmp_path / 'none'), '--out',
            str(tmp_path / 'out')
        ])
