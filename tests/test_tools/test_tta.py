"""``tools/test.py --tta`` (MMSeg's ``SegTTAModel`` over the config's
``tta_pipeline``, multi-scale + flip) end to end for OCRNet and for
MultiScaleAttentionOCR, and the latter's own hierarchical multi-scale
inference selected with ``--cfg-options`` (no TTA averaging)."""
import json
from pathlib import Path

import cv2
import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
HMSA_DEMO_CONFIG = (REPO / 'configs/hmsa' /
                    'ocrnet-hmsa_hr18s_1xb8-200it_demo-cityscapes-128x128.py')


@pytest.fixture(scope='module')
def runs(tmp_path_factory, start_tool, finish_tool, demo_config,
         tiny_options, demo_data_root):
    """Two-iteration trainings of both demo configs, then their tests.

    Returns:
        dict: Per test run, its work dir, ``--out`` dir and
        ``CompletedProcess``.
    """
    root = tmp_path_factory.mktemp('tta')
    options = tiny_options(
        demo_data_root,
        **{
            'train_cfg.max_iters': 2,
            'default_hooks.checkpoint.interval': 2
        })
    configs = dict(ocrnet=demo_config, hmsa=HMSA_DEMO_CONFIG)
    trainings = {
        name: start_tool('train', config, '--work-dir', root / name,
                         '--cfg-options', *options)
        for name, config in configs.items()
    }
    for name, proc in trainings.items():
        result = finish_tool(proc)
        assert result.returncode == 0, (name, result.stderr[-3000:])
    tests = dict(
        ocrnet_tta=('ocrnet', ['--tta'], []),
        hmsa_tta=('hmsa', ['--tta'], []),
        hmsa_scales=('hmsa', [], [
            'model.test_cfg.scales=[0.5,1.0,2.0]', 'model.test_cfg.flip=True'
        ]),
    )
    started, paths = {}, {}
    for name, (trained, flags, extra) in tests.items():
        paths[name] = dict(work_dir=root / f'{name}_test', out=root / name)
        started[name] = start_tool(
            'test', configs[trained], root / trained / 'iter_2.pth',
            *flags, '--work-dir', paths[name]['work_dir'], '--out',
            paths[name]['out'], '--cfg-options',
            *tiny_options(demo_data_root), *extra)
    return {
        name: dict(paths[name], result=finish_tool(proc))
        for name, proc in started.items()
    }


def dumped_config(work_dir: Path) -> Config:
    """The config the ``Runner`` ran with (it dumps it to its work dir)."""
    (path, ) = work_dir.glob('*.py')
    return Config.fromfile(path)


def check_metrics_and_predictions(run: dict, demo_data_root: Path) -> None:
    result = run['result']
    assert result.returncode == 0, result.stderr[-3000:]
    (metrics_file, ) = run['work_dir'].glob('*/*.json')
    metrics = json.loads(metrics_file.read_text())
    assert 0 <= metrics['mIoU'] <= 100, metrics
    val_images = sorted((demo_data_root / 'leftImg8bit/val').rglob('*.png'))
    predictions = sorted(run['out'].glob('*.png'))
    assert len(predictions) == len(val_images) == 4
    for prediction in predictions:
        label_map = cv2.imread(str(prediction), cv2.IMREAD_UNCHANGED)
        assert label_map.shape == (64, 128)


@pytest.mark.parametrize('name', ['ocrnet_tta', 'hmsa_tta'])
def test_tta_runs_segttamodel_over_scales_and_flips(runs, name,
                                                   demo_data_root):
    run = runs[name]
    check_metrics_and_predictions(run, demo_data_root)
    cfg = dumped_config(run['work_dir'])
    assert cfg.model.type == 'SegTTAModel'
    segmentor = 'MultiScaleAttentionOCR' if 'hmsa' in name else (
        'OCRCascadeEncoderDecoder')
    assert cfg.model.module.type == segmentor
    (tta, ) = [
        t for t in cfg.test_dataloader.dataset.pipeline
        if t.type == 'TestTimeAug'
    ]
    resizes, flips = tta.transforms[:2]
    assert len({r.scale_factor for r in resizes}) > 1
    assert sorted(f.prob for f in flips) == [0.0, 1.0]


def test_hierarchical_scales_and_flip_without_tta(runs, demo_data_root):
    run = runs['hmsa_scales']
    check_metrics_and_predictions(run, demo_data_root)
    cfg = dumped_config(run['work_dir'])
    assert cfg.model.type == 'MultiScaleAttentionOCR'
    assert cfg.model.test_cfg.scales == [0.5, 1.0, 2.0]
    assert cfg.model.test_cfg.flip is True
