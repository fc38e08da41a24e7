"""Every config loads (with its ``mmseg::`` bases), keeps the LR schedule to
the end of training, registers the plugin, and builds a model that runs
``loss`` and ``predict`` on small inputs (SyncBN reverted on CPU)."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

CONFIG_DIR = Path(__file__).parents[1] / 'configs'
# SegFix configs build a boundary model, not a segmentor: tested in
# tests/test_models/test_segmentors/test_segfix.py.
LEAVES = sorted(p for p in CONFIG_DIR.rglob('*.py')
                if '_base_' not in p.parts and 'segfix' not in p.parts)
BACKBONES = ('hr18s', 'hr18', 'hr48', 'r50-d8', 'r101-d8')


def test_every_backbone_schedule_and_dataset_has_a_config():
    names = {p.name for p in LEAVES}
    for backbone in BACKBONES:
        for iters in (40, 80, 160):
            assert (f'ocrnet_{backbone}_4xb2-{iters}k_cityscapes-512x1024.py'
                    in names)
    for backbone in BACKBONES[:3]:
        for iters in (80, 160):
            name = f'ocrnet_{backbone}_4xb4-{iters}k_ade20k-512x512.py'
            assert name in names


@pytest.mark.parametrize('path', LEAVES, ids=lambda p: p.name)
def test_config_loads(path):
    cfg = Config.fromfile(path)
    text = path.read_text()
    if path.parent.name == 'ocrnet_plus' and '_base_ = [' in text:
        # a leaf on MMSeg's own dataset, runtime and schedule bases
        dataset = 'ade20k' if 'ade20k' in path.name else 'cityscapes'
        iters = path.name.split('-')[-2].split('_')[0]  # '40k'
        for base in (f'mmseg::_base_/datasets/{dataset}.py',
                     'mmseg::_base_/default_runtime.py',
                     f'mmseg::_base_/schedules/schedule_{iters}.py'):
            assert base in text
    num_classes = 150 if 'ade20k' in path.name else 19
    assert [h.num_classes for h in cfg.model.decode_head] == [num_classes] * 2
    assert cfg.custom_imports == dict(
        imports=['mmseg_ocr_plus'], allow_failed_imports=False)
    if '-stock_' in path.name:  # stock MMSeg, for side-by-side benchmarks
        assert cfg.model.type == 'CascadeEncoderDecoder'
    else:
        assert cfg.model.type in ('OCRCascadeEncoderDecoder',
                                  'MultiScaleAttentionOCR')
    max_iters = cfg.train_cfg.max_iters
    for scheduler in cfg.param_scheduler:
        assert scheduler.end <= max_iters
    assert max(s.end for s in cfg.param_scheduler) == max_iters


@pytest.mark.parametrize('path', LEAVES, ids=lambda p: p.name)
def test_model_runs_loss_and_predict(path):
    cfg = Config.fromfile(path)
    cfg.model.pretrained = None
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    h, w = 64, 128
    inputs = torch.randn(2, 3, h, w)
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, cfg.model.decode_head[1].num_classes,
                               (1, h, w)))
        samples.append(s)
    model.train()
    losses = model.loss(inputs, samples)
    # the OCR head's loss may be RMI ('-rmi' recipes): any 'loss_' item
    assert 'decode_0.loss_ce' in losses
    assert any(k.startswith('decode_1.loss_') for k in losses)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    model.eval()
    with torch.no_grad():
        preds = model.predict(inputs, samples)
    assert preds[0].pred_sem_seg.data.shape == (1, h, w)
