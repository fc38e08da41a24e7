"""``tools/test.py --segfix`` end to end on the tiny demo dataset of
``conftest.py``: the demo OCRNet and the demo SegFix with seeded random
weights (saved here, no training), refined in the same pass, checked
against ``tools/segfix_refine.py`` on the unrefined predictions of a plain
``tools/test.py --out`` run of the same checkpoint."""
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from mmseg_ocr_plus.utils.preflight import InvalidInputError

REPO = Path(__file__).resolve().parents[2]
SEGFIX_CONFIG = (REPO / 'configs/segfix/'
                 'segfix_hr18s_1xb8-200it_demo-cityscapes-128x128.py')


def save_random_checkpoint(config: Path, path: Path, seed: int) -> Path:
    """The config's model with seeded random weights, as a checkpoint."""
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(config).model)
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


def segfix_options(data_root: Path):
    """The SegFix demo config's test loader on the tiny demo dataset."""
    return [
        'test_dataloader.dataset.pipeline.1.scale=(128,64)',
        f'test_dataloader.dataset.data_root={data_root}',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
    ]


@pytest.fixture(scope='module')
def runs(tmp_path_factory, demo_config, demo_data_root, tiny_options,
         start_tool, finish_tool):
    """Run together: ``--segfix``, plain ``--out``, and ``--segfix`` with
    the SegFix checkpoint given as the segmentor's; then refine the plain
    predictions with ``tools/segfix_refine.py``."""
    root = tmp_path_factory.mktemp('test_segfix')
    ocrnet = save_random_checkpoint(demo_config, root / 'ocrnet.pth', 0)
    segfix = save_random_checkpoint(SEGFIX_CONFIG, root / 'segfix.pth', 1)
    options = ['--cfg-options', *tiny_options(demo_data_root)]
    started = dict(
        refined=start_tool('test', demo_config, ocrnet, '--segfix',
                           SEGFIX_CONFIG, segfix, '--work-dir',
                           root / 'refined', '--out', root / 'refined/preds',
                           *options),
        plain=start_tool('test', demo_config, ocrnet, '--work-dir',
                         root / 'plain', '--out', root / 'plain/preds',
                         *options),
        wrong=start_tool('test', demo_config, segfix, '--segfix',
                         SEGFIX_CONFIG, segfix, '--work-dir', root / 'wrong',
                         *options))
    results = {k: finish_tool(p) for k, p in started.items()}
    assert results['plain'].returncode == 0, results['plain'].stderr[-3000:]
    results['offline'] = finish_tool(
        start_tool('segfix_refine', SEGFIX_CONFIG, segfix, '--pred-dir',
                   root / 'plain/preds', '--out', root / 'offline',
                   '--cfg-options', *segfix_options(demo_data_root)))
    return dict(root=root, **results)


def test_same_pass_matches_offline_refinement(runs):
    result = runs['refined']
    assert result.returncode == 0, result.stderr[-3000:]
    root = runs['root']
    metrics_files = list((root / 'refined').glob('*/*.json'))
    assert len(metrics_files) == 1
    metrics = json.loads(metrics_files[0].read_text())
    for key in ('mIoU', 'bF@1', 'bF@3', 'bF@5', 'before/mIoU',
                'before/bF@1', 'before/bF@3', 'before/bF@5'):
        assert key in metrics, metrics
        assert f'{key}: ' in result.stdout

    # The same numbers as the offline refinement of the same predictions.
    assert runs['offline'].returncode == 0, runs['offline'].stderr[-3000:]
    offline = json.loads((root / 'offline/segfix_metrics.json').read_text())
    for name, prefix in (('before', 'before/'), ('after', '')):
        for key, value in offline[name].items():
            assert metrics[prefix + key] == pytest.approx(value, abs=0.006), (
                name, key)
    plain = json.loads(next((root / 'plain').glob('*/*.json')).read_text())
    assert metrics['before/mIoU'] == pytest.approx(plain['mIoU'], abs=0.006)
    assert offline['changed_pixels'] > 0  # the refinement did something

    # --out writes the refined maps: those of the offline refinement, and
    # no label id that the unrefined map lacks.
    refined = sorted((root / 'refined/preds').glob('*.png'))
    assert len(refined) == 4
    for path in refined:
        ours = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        theirs = cv2.imread(str(root / 'offline' / path.name),
                            cv2.IMREAD_UNCHANGED)
        raw = cv2.imread(str(root / 'plain/preds' / path.name),
                         cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(ours, theirs)
        assert set(np.unique(ours)) <= set(np.unique(raw))


def test_wrong_checkpoint_still_refused(runs):
    result = runs['wrong']
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert re.match(r"test\.py: error: checkpoint '.*segfix\.pth' does not "
                    "match the config's model", last), last
    assert 'Traceback' not in result.stderr


@pytest.mark.parametrize('which', ['config', 'checkpoint'])
def test_missing_segfix_file(which, tmp_path, monkeypatch, load_tool,
                             demo_config, tiny_options, demo_data_root):
    monkeypatch.setenv('LOCAL_RANK', '0')
    checkpoint = tmp_path / 'ocrnet.pth'
    checkpoint.write_bytes(b'')  # exists: only its path is checked first
    missing = tmp_path / 'missing'
    segfix = ([missing, checkpoint]
              if which == 'config' else [SEGFIX_CONFIG, missing])
    work_dir = tmp_path / 'work_dir'
    with pytest.raises(InvalidInputError,
                       match=rf"^--segfix: {which} '{re.escape(str(missing))}"
                       "': expected"):
        load_tool('test').main([
            str(demo_config),
            str(checkpoint), '--segfix', *map(str, segfix), '--work-dir',
            str(work_dir), '--cfg-options', *tiny_options(demo_data_root)
        ])
    assert not work_dir.exists()


def test_segfix_with_tta_refused(tmp_path, monkeypatch, load_tool,
                                 demo_config):
    monkeypatch.setenv('LOCAL_RANK', '0')
    checkpoint = tmp_path / 'ocrnet.pth'
    checkpoint.write_bytes(b'')
    with pytest.raises(InvalidInputError, match='^--segfix: expected no '
                       '--tta'):
        load_tool('test').main([
            str(demo_config),
            str(checkpoint), '--tta', '--segfix',
            str(SEGFIX_CONFIG),
            str(checkpoint)
        ])
