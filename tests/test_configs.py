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
LEAVES = sorted(p for p in CONFIG_DIR.rglob('*.py') if '_base_' not in p.parts)
# one leaf per architecture is built and run (the others share the model)
RUN = ['demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py',
       'ocrnet_plus/ocrnet_hr18s_4xb2-40k_cityscapes-512x1024.py']


def test_configs_exist():
    assert len(LEAVES) >= 13


@pytest.mark.parametrize('path', LEAVES, ids=lambda p: p.name)
def test_config_loads(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(
        imports=['mmseg_ocr_plus'], allow_failed_imports=False)
    assert cfg.model.type == 'OCRCascadeEncoderDecoder'
    max_iters = cfg.train_cfg.max_iters
    for scheduler in cfg.param_scheduler:
        assert scheduler.end <= max_iters
    assert max(s.end for s in cfg.param_scheduler) == max_iters


@pytest.mark.parametrize('name', RUN)
def test_model_runs_loss_and_predict(name):
    cfg = Config.fromfile(CONFIG_DIR / name)
    cfg.model.pretrained = None
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    h, w = 64, 128
    inputs = torch.randn(2, 3, h, w)
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 19, (1, h, w)))
        samples.append(s)
    model.train()
    losses = model.loss(inputs, samples)
    assert set(losses) >= {'decode_0.loss_ce', 'decode_1.loss_ce'}
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    model.eval()
    with torch.no_grad():
        preds = model.predict(inputs, samples)
    assert preds[0].pred_sem_seg.data.shape == (1, h, w)
