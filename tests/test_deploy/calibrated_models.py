"""Zoo-architecture models with random weights and calibrated BN for the
deploy tests (as ``tests/test_models/test_zoo_parity.py`` builds them).

The BN running statistics are the statistics of the test input itself, so
every layer sees unit-scale activations, as in a trained model. The input is
spatially smooth (a bilinear upsampling of coarse noise, plus fine noise):
on white noise the deep features of a random network are almost constant
across positions, and BN then divides rounding errors by a tiny variance.
"""
from pathlib import Path

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmseg.registry import MODELS

CONFIGS = Path(__file__).parents[2] / 'configs'


def smooth_inputs(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """``[n, 3, h, w]`` preprocessed-image-like input."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, 3, max(h // 16, 1), max(w // 16, 1), generator=g)
    x = F.interpolate(coarse, size=(h, w), mode='bilinear')
    scale = torch.randn(n, 1, 1, 1, generator=g).exp()  # per-image contrast
    offset = torch.randn(n, 3, 1, 1, generator=g)  # per-image colour
    return scale * x + offset + 0.1 * torch.randn(n, 3, h, w, generator=g)


def build_calibrated(config: str, inputs: torch.Tensor) -> torch.nn.Module:
    """Build ``configs/<config>`` with random weights, BN calibrated on
    ``inputs`` and the last classifier scaled to logits of std 3 on them,
    in eval mode."""
    torch.manual_seed(0)
    cfg = Config.fromfile(CONFIGS / config)
    cfg.model.pretrained = None
    cfg.model.backbone.pop('init_cfg', None)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
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
        # logits with a trained model's spread (std 3) on these inputs
        classifier = model.decode_head[-1].conv_seg
        scale = 3 / model(inputs, mode='tensor').std()
        classifier.weight.mul_(scale)
        classifier.bias.mul_(scale)
    return model
