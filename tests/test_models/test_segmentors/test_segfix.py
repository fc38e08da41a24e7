"""The ``SegFix`` segmentor from the SegFix configs: they load, train
(``loss`` with targets from the real pipeline transforms) and predict a
boundary and a direction map per image, in whole and slide mode."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.model import revert_sync_batchnorm
from mmseg.registry import MODELS

from mmseg_ocr_plus.datasets.transforms import (
    GenerateSegFixTargets,
    PackSegFixInputs,
)

CONFIGS = sorted((Path(__file__).parents[3] / 'configs/segfix').glob('*.py'))


def packed_samples(h, w, n=2):
    """``n`` samples of a two-class scene, as the training pipeline packs
    them (without the image)."""
    samples = []
    for i in range(n):
        seg = np.zeros((h, w), np.uint8)
        seg[h // 3:, w // 4 + i:] = 5
        results = GenerateSegFixTargets(boundary_width=3)(
            dict(gt_seg_map=seg, img_shape=(h, w), ori_shape=(h, w)))
        samples.append(PackSegFixInputs()(results)['data_samples'])
    return samples


def build(path):
    cfg = Config.fromfile(path)
    cfg.model.pretrained = None
    return cfg, revert_sync_batchnorm(MODELS.build(cfg.model))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(
        imports=['mmseg_ocr_plus'], allow_failed_imports=False)
    assert cfg.model.type == 'SegFix'
    assert cfg.model.decode_head.type == 'SegFixHead'
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert types[-2:] == ['GenerateSegFixTargets', 'PackSegFixInputs']
    assert types.index('GenerateSegFixTargets') > types.index('RandomCrop')
    max_iters = cfg.train_cfg.max_iters
    assert max(s.end for s in cfg.param_scheduler) == max_iters
    assert cfg.val_dataloader is None and cfg.val_cfg is None


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_loss_and_predict(path):
    cfg, model = build(path)
    h, w = 64, 96
    inputs = torch.randn(2, 3, h, w)
    model.train()
    losses = model.loss(inputs, packed_samples(h, w))
    assert {'decode.loss_boundary', 'decode.loss_direction'} <= set(losses)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    model.eval()
    with torch.no_grad():
        preds = model.predict(inputs, packed_samples(h, w))
    for pred in preds:
        boundary = pred.pred_boundary_map.data
        direction = pred.pred_direction_map.data
        assert boundary.shape == direction.shape == (1, h, w)
        assert pred.boundary_logits.data.shape == (2, h, w)
        assert pred.direction_logits.data.shape == (8, h, w)
        torch.testing.assert_close(
            boundary, pred.boundary_logits.data.argmax(0, keepdim=True))
        torch.testing.assert_close(
            direction, pred.direction_logits.data.argmax(0, keepdim=True))


def test_slide_inference_stitches_both_maps():
    cfg, model = build(CONFIGS[0])
    model.eval()
    h, w = 64, 96
    inputs = torch.randn(1, 3, h, w)
    with torch.no_grad():
        whole = model.predict(inputs, packed_samples(h, w, n=1))[0]
        model.test_cfg = ConfigDict(
            mode='slide', crop_size=(64, 64), stride=(32, 32))
        slide = model.predict(inputs, packed_samples(h, w, n=1))[0]
    assert slide.direction_logits.data.shape == (8, h, w)
    assert slide.pred_boundary_map.data.shape == (1, h, w)
    # Different crops see different context: close, not equal.
    assert not torch.equal(slide.boundary_logits.data,
                           whole.boundary_logits.data)
