"""ScaleAttentionVisualizationHook: one picture per image with a heat map of
each fused scale's attention, on an absolute 0-1 scale, recording switched
on for the drawn images only."""
from pathlib import Path
from unittest.mock import MagicMock

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_ocr_plus.engine.hooks import ScaleAttentionVisualizationHook

CONFIG = (Path(__file__).resolve().parents[3] / 'configs/hmsa/'
          'ocrnet-hmsa_hr18s_1xb8-200it_demo-cityscapes-128x128.py')


@pytest.fixture(scope='module')
def model():
    cfg = Config.fromfile(CONFIG)
    cfg.model.test_cfg.scales = [0.5, 1.0, 2.0]
    torch.manual_seed(0)
    return MODELS.build(cfg.model).eval()


def runner_of(model):
    runner = MagicMock()
    runner.model = model
    runner.iter = 7
    return runner


def test_one_picture_per_image_with_a_tile_per_fused_scale(model, tmp_path):
    h, w = 32, 64
    paths = []
    for i in range(3):
        path = str(tmp_path / f'img{i}.png')
        mmcv.imwrite(np.full((h, w, 3), 40 * i, np.uint8), path)
        paths.append(path)
    runner = runner_of(model)
    hook = ScaleAttentionVisualizationHook(num_images=2)
    hook.before_val_epoch(runner)
    assert model.record_attention
    inputs = torch.randn(3, 3, h, w)
    samples = [
        SegDataSample(metainfo=dict(img_path=p, img_shape=(h, w),
                                    ori_shape=(h, w))) for p in paths
    ]
    with torch.no_grad():
        outputs = model.predict(inputs, samples)
    hook.after_val_iter(runner, 0, dict(inputs=inputs), outputs)

    calls = runner.visualizer.add_image.call_args_list
    assert [c.args[0] for c in calls] == [
        'val_scale_attention_img0', 'val_scale_attention_img1'
    ]
    for call in calls:
        picture, step = call.args[1:]
        # the image, then scales 1.0 and 0.5 (the largest has none)
        assert picture.shape == (h, 3 * w, 3) and picture.dtype == np.uint8
        assert step == 7
    assert not model.record_attention  # num_images drawn: off again
    assert model.recorded_attention is None


def test_heat_maps_are_on_the_absolute_attention_scale():
    hook = ScaleAttentionVisualizationHook(alpha=1.0)
    image = np.zeros((4, 6, 3), np.uint8)
    low, high = torch.zeros(1, 2, 3), torch.ones(1, 2, 3)
    picture = hook.draw(image, [low, high])
    blue, red = picture[:, 6:12], picture[:, 12:18]
    assert (blue[..., 2] > blue[..., 0]).all()  # RGB: blue dominates
    assert (red[..., 0] > red[..., 2]).all()


def test_other_models_are_refused(model):
    runner = runner_of(torch.nn.Linear(1, 1))
    with pytest.raises(TypeError, match='expected a MultiScaleAttentionOCR'):
        ScaleAttentionVisualizationHook().before_run(runner)
