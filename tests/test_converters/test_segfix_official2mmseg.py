"""Official openseg SegFix checkpoints convert to our ``SegFix`` and give
the reference's boundary and direction logits.

The reference net is written here from openseg's ``SegFix_HRNet``
(``lib/models/nets/segfix.py``, ``docs/references.md`` "SegFix"): the
HRNetV2 of ``reference_ocrnet`` (fuse with ``align_corners=True``), its four
levels resized to the first with ``align_corners=True`` and concatenated,
then ``mask_head`` and ``dir_head``, each ``Sequential(conv1x1 no bias,
BNReLU, conv1x1 no bias)``; BNReLU a bare InPlaceABN (LeakyReLU(0.01)) for
``bn_type='inplace_abn'`` (the released files) or ``Sequential(BN,
ReLU)``. Reduced widths; random weights with calibrated statistics and,
for InPlaceABN, negative gammas; saved as openseg saves
(``{config_dict, state_dict}``, ``module.`` keys).
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmseg.registry import MODELS
from official_layouts import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MID,
    MODULES,
    PLANES1,
    WIDTHS,
    randomize_and_calibrate,
)
from reference_ocrnet import HRNetV2, InPlaceABN
from torch import Tensor, nn

from mmseg_ocr_plus.converters import (
    UnexpectedKeysError,
    UnknownLayoutError,
    convert_segfix_state_dict,
)

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/segfix/segfix_hr48_openseg_cityscapes-512x512.py'
TOOL = ROOT / 'tools/model_converters/segfix_official2mmseg.py'
H, W = 72, 104


class ReferenceSegFix(nn.Module):
    """openseg's ``SegFix_HRNet``: ``forward`` returns the boundary
    (``mask_head``, ``[B, 2, H/4, W/4]``) and direction (``dir_head``,
    ``[B, 8, H/4, W/4]``) logits."""

    def __init__(self, inplace_abn: bool) -> None:
        super().__init__()
        if inplace_abn:
            def norm(c):  # the backbone's: no activation inside
                return InPlaceABN(c, activation='none')

            def bn_relu(c):  # ModuleHelper.BNReLU: InPlaceABNSync at .1
                return InPlaceABN(c, activation='leaky_relu', slope=0.01)
        else:
            norm = nn.BatchNorm2d

            def bn_relu(c):  # Sequential(BN, ReLU): the BN at .1.0
                return nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())
        self.backbone = HRNetV2(PLANES1, WIDTHS, MODULES, norm, True)
        cin = sum(WIDTHS)
        self.dir_head = nn.Sequential(
            nn.Conv2d(cin, MID, 1, bias=False), bn_relu(MID),
            nn.Conv2d(MID, 8, 1, bias=False))
        self.mask_head = nn.Sequential(
            nn.Conv2d(cin, MID, 1, bias=False), bn_relu(MID),
            nn.Conv2d(MID, 2, 1, bias=False))

    def forward(self, x: Tensor):
        xs = self.backbone(x)
        size = xs[0].shape[2:]
        feats = torch.cat([xs[0]] + [
            F.interpolate(y, size, mode='bilinear', align_corners=True)
            for y in xs[1:]
        ], 1)  # [B, sum C_i, H/4, W/4]
        return self.mask_head(feats), self.dir_head(feats)


def image() -> np.ndarray:
    """A ``[H, W, 3]`` uint8 BGR image (as ``LoadImageFromFile`` reads)."""
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), np.uint8)


def reference_input() -> Tensor:
    """openseg's input: BGR, ImageNet mean/std applied in that order."""
    x = (image().astype(np.float64) / 255 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(x.transpose(2, 0, 1).copy()).float()[None]


def reference_and_file(inplace_abn: bool, path: Path):
    """The calibrated reference, its logits and its official file."""
    torch.manual_seed(0)
    model = ReferenceSegFix(inplace_abn)
    x = reference_input()
    randomize_and_calibrate(
        model, x, classifiers=[model.mask_head[2], model.dir_head[2]])
    with torch.no_grad():
        logits = model(x)
    state_dict = {f'module.{k}': v for k, v in model.state_dict().items()}
    bn_type = 'inplace_abn' if inplace_abn else 'torchsyncbn'
    torch.save(
        dict(
            config_dict=dict(
                network=dict(model_name='segfix_hrnet', bn_type=bn_type)),
            state_dict=state_dict), path)
    return logits, state_dict


def our_model(checkpoint: Path, inplace_abn: bool):
    """Our config at the reference's widths, the converted weights loaded
    strictly."""
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.extra = dict(
        stage1=dict(
            num_modules=1,
            num_branches=1,
            block='BOTTLENECK',
            num_blocks=(1, ),
            num_channels=(PLANES1, )),
        **{
            f'stage{s}': dict(
                block='BASIC',
                num_modules=MODULES[s - 2],
                num_branches=s,
                num_blocks=(1, ) * s,
                num_channels=WIDTHS[:s])
            for s in (2, 3, 4)
        })
    cfg.model.decode_head.update(in_channels=list(WIDTHS), channels=MID)
    if not inplace_abn:
        cfg.model.decode_head.act_cfg = dict(type='ReLU')
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    converted = torch.load(checkpoint, map_location='cpu', weights_only=True)
    model.load_state_dict(converted['state_dict'], strict=True)
    return model, converted['meta']


@pytest.mark.parametrize('inplace_abn', [True, False],
                         ids=['inplace_abn', 'bn'])
def test_converted_checkpoint_gives_reference_logits(inplace_abn, tmp_path):
    (boundary, direction), _ = reference_and_file(inplace_abn,
                                                  tmp_path / 'official.pth')
    dst = tmp_path / 'converted.pth'
    result = subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path / 'official.pth'),
         str(dst)],
        capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, 'PYTHONWARNINGS': 'ignore',
             'PYTHONPATH': str(ROOT)})
    assert result.returncode == 0, result.stderr
    norm = 'inplace_abn' if inplace_abn else 'bn'
    assert f'openseg-segfix layout ({norm}' in result.stdout
    model, meta = our_model(dst, inplace_abn)
    assert meta['num_directions'] == 8
    assert meta['config'] == (CONFIG.name if inplace_abn else None)

    x = torch.from_numpy(image()).permute(2, 0, 1)
    data = model.data_preprocessor(dict(inputs=[x]), False)
    with torch.no_grad():
        logits = model.decode_head(model.extract_feat(data['inputs']))
    ours = logits.split([2, 8], dim=1)
    for name, a, b in (('boundary', ours[0], boundary),
                       ('direction', ours[1], direction)):
        assert b.abs().max() > 1, f'{name}: logits too small to compare'
        # float32 rounding only (about 1e-5 on logits of a few units)
        torch.testing.assert_close(a, b, rtol=0, atol=5e-5, msg=name)


def test_inplace_abn_scale_and_unexpected_keys(tmp_path):
    _, state_dict = reference_and_file(True, tmp_path / 'official.pth')
    converted, report = convert_segfix_state_dict(state_dict)
    gamma = state_dict['module.mask_head.1.weight']
    assert (gamma < 0).any()
    torch.testing.assert_close(
        converted['decode_head.boundary_conv.bn.weight'],
        gamma.abs() + 1e-5)
    assert report['norm'] == 'inplace_abn'
    assert report['head_activation'] == 'LeakyReLU(0.01)'

    # The backbone's ImageNet classifier is dropped, and reported.
    extra = dict(state_dict)
    extra['module.backbone.final_layer.0.weight'] = torch.zeros(4, 4, 1, 1)
    _, report = convert_segfix_state_dict(extra)
    assert report['dropped_keys'] == ['module.backbone.final_layer.0.weight']
    # A conv bias has no place in our bias-free heads.
    biased = dict(state_dict, **{'module.dir_head.2.bias': torch.zeros(8)})
    with pytest.raises(UnexpectedKeysError, match='dir_head.2.bias'):
        convert_segfix_state_dict(biased)
    # Other than 8 direction bins cannot be refined here.
    four = dict(state_dict)
    four['module.dir_head.2.weight'] = four['module.dir_head.2.weight'][:4]
    with pytest.raises(UnexpectedKeysError, match='expected 8 direction'):
        convert_segfix_state_dict(four)
    # An OCRNet checkpoint is not a SegFix one.
    ocr = {k: v for k, v in state_dict.items() if 'mask_head' not in k}
    with pytest.raises(UnknownLayoutError, match='openseg SegFix'):
        convert_segfix_state_dict(ocr)
