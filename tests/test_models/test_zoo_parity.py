"""MMSeg model-zoo compatibility: this plugin's configs build models whose
state dicts equal MMSeg's (keys and shapes), load MMSeg weights strictly, and
give MMSeg's logits (eval mode, fp32, max abs diff <= 1e-5).

Weights are random (nothing can be downloaded here); BN statistics are
calibrated on the evaluation batch so that activations, and logits, have the
magnitudes of a trained model instead of exploding through random BN.
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.model import revert_sync_batchnorm
from mmseg.registry import MODELS

CONFIGS = Path(__file__).parents[2] / 'configs' / 'ocrnet_plus'
ARCHS = [
    'ocrnet_hr18s_4xb2-40k_cityscapes-512x1024.py',
    'ocrnet_hr18_4xb2-40k_cityscapes-512x1024.py',
    'ocrnet_hr48_4xb2-40k_cityscapes-512x1024.py',
    'ocrnet_r101-d8_4xb2-40k_cityscapes-512x1024.py',
    'ocrnet_hr18_4xb4-80k_ade20k-512x512.py',  # 150 classes
]


def build(cfg: Config) -> torch.nn.Module:
    cfg.model.pretrained = None
    cfg.model.backbone.pop('init_cfg', None)
    return revert_sync_batchnorm(MODELS.build(cfg.model))


def calibrate_bn(model: torch.nn.Module, inputs: torch.Tensor) -> None:
    """Random BN affine parameters; running stats = stats of ``inputs``."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.weight.data = torch.rand(m.num_features, generator=g) + 0.5
            m.bias.data = torch.randn(m.num_features, generator=g) * 0.1
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one batch sets them
    model.train()
    with torch.no_grad():
        model(inputs, mode='tensor')
    model.eval()


@pytest.mark.slow
@pytest.mark.parametrize('name', ARCHS)
def test_mmseg_zoo_weights_give_mmseg_logits(name):
    torch.manual_seed(0)
    stock = build(get_config(f'mmseg::ocrnet/{name}'))
    ours = build(Config.fromfile(CONFIGS / name))
    assert type(ours).__name__ == 'OCRCascadeEncoderDecoder'
    assert [type(h).__name__ for h in ours.decode_head] == [
        'SoftRegionHead', 'OCRPlusHead'
    ]
    inputs = torch.randn(2, 3, 64, 128)
    calibrate_bn(stock, inputs)
    stock_sd = stock.state_dict()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape
        for k, v in stock_sd.items()
    }
    ours.load_state_dict(stock_sd, strict=True)
    ours.eval()
    with torch.no_grad():
        expected = stock(inputs, mode='tensor')
        logits = ours(inputs, mode='tensor')
    assert expected.abs().max() > 1  # a meaningful comparison
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5)
