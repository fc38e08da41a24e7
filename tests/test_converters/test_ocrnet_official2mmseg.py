"""Official OCRNet checkpoints convert to our configs and give the
reference logits.

For every layout a small reference model (``reference_ocrnet``, written
from the published structure) with random weights is saved in the official
file layout, converted (by the tool for one layout, by the API for the
others), loaded strictly into our model built from the matching config with
the same reduced widths, and fed the same uint8 image, each side with its
own input convention. The aux and final logits at 1/4 resolution and the
final logits at the input size must agree to 1e-4 (fp32). The image is
72x104, not a multiple of 32, so the fuse-layer upsampling is checked where
MMSeg's stock HRNet differs from the references. NVIDIA's multi-scale model
is compared single scale like the others, and on its fused logits at two
sets of scales.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from official_layouts import (
    ATTENTION,
    CASES,
    KEY,
    MID,
    MODULES,
    PLANES1,
    WIDTHS,
    build_reference,
    official_file,
    randomize_and_calibrate,
    reference_input,
)

from mmseg_ocr_plus.converters import (
    convert_checkpoint,
    convert_state_dict,
    detect_layout,
    read_state_dict,
)

ROOT = Path(__file__).parents[2]
OFFICIAL = ROOT / 'configs/ocrnet_plus/official'
TOOL = ROOT / 'tools/model_converters/ocrnet_official2mmseg.py'
H, W = 72, 104


def reduced_config(name: str) -> Config:
    """Our config with the reference models' reduced widths."""
    cfg = Config.fromfile(OFFICIAL / name)
    stage = dict(block='BASIC')
    cfg.model.backbone.extra = dict(
        stage1=dict(
            num_modules=1,
            num_branches=1,
            block='BOTTLENECK',
            num_blocks=(1, ),
            num_channels=(PLANES1, )),
        **{
            f'stage{s}': dict(
                stage,
                num_modules=MODULES[s - 2],
                num_branches=s,
                num_blocks=(1, ) * s,
                num_channels=WIDTHS[:s])
            for s in (2, 3, 4)
        })
    # The logits are compared on the image itself: no test-time padding
    # (the ADE20K config pads to 520x520 with the mean colour; HRNet-OCR
    # pads with black, a documented difference).
    cfg.model.data_preprocessor.pop('test_cfg', None)
    aux, ocr = cfg.model.decode_head
    aux.update(in_channels=list(WIDTHS), channels=sum(WIDTHS))
    ocr.update(in_channels=list(WIDTHS), channels=MID, ocr_channels=KEY)
    if 'attention_head' in cfg.model:  # in_channels: the OCR head's MID
        cfg.model.attention_head.channels = ATTENTION
        # single scale, as the other layouts are compared; the fused logits
        # have their own test (test_cfg is read at every inference)
        cfg.model.test_cfg.scales = [1.0]
    return cfg


def image() -> np.ndarray:
    """A ``[H, W, 3]`` uint8 BGR image (as ``LoadImageFromFile`` reads)."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def reference_and_file(key: str, tmp_path: Path):
    """The calibrated reference model, its outputs and its official file."""
    case = CASES[key]
    torch.manual_seed(0)
    model = build_reference(case)
    x = reference_input(image(), case)
    randomize_and_calibrate(model, x)
    with torch.no_grad():
        outputs = model(x)
    path = tmp_path / f'{key}_official.pth'
    torch.save(official_file(model, case), path)
    return case, outputs, path


def our_model(cfg: Config, checkpoint: Path):
    """Our model with the converted weights, loaded strictly, and the
    converter's meta."""
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    converted = torch.load(checkpoint, map_location='cpu', weights_only=True)
    model.load_state_dict(converted['state_dict'], strict=True)
    return model.eval(), converted['meta']


def our_outputs(cfg: Config, checkpoint: Path):
    """Aux and final logits at 1/4 and at the input size from our model
    with the converted weights, loaded strictly."""
    model, meta = our_model(cfg, checkpoint)
    sample = SegDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W)))
    data = dict(
        inputs=[torch.from_numpy(image()).permute(2, 0, 1)],
        data_samples=[sample])
    with torch.no_grad():
        data = model.data_preprocessor(data, False)
        inputs = data['inputs']
        assert inputs.shape[2:] == (H, W)  # no test-time padding here
        aux, out = model.cascade_forward(model.extract_feat(inputs))
        full = model.encode_decode(inputs, [sample.metainfo])
    return (aux, out, full), meta


def assert_same_logits(ours, reference) -> float:
    """Max abs difference of (aux, out, full) logits; at most 1e-4."""
    worst = 0.0
    for name, a, b in zip(('aux', 'final', 'final (input size)'), ours,
                          reference):
        assert a.shape == b.shape, name
        assert b.abs().max() > 1, f'{name}: logits too small to compare'
        diff = (a - b).abs().max().item()
        assert diff <= 1e-4, f'{name} logits differ by {diff:.3g}'
        worst = max(worst, diff)
    return worst


@pytest.mark.parametrize('key', sorted(CASES))
def test_converted_checkpoint_gives_reference_logits(key, tmp_path):
    case, reference, src = reference_and_file(key, tmp_path)
    dst = tmp_path / 'converted.pth'
    if key == 'openseg':  # the command line, as the README runs it
        result = subprocess.run(
            [sys.executable, str(TOOL),
             str(src), str(dst)],
            cwd=ROOT,
            capture_output=True,
            text=True)
        assert result.returncode == 0, result.stderr
        assert 'openseg layout (inplace_abn)' in result.stdout
    else:
        convert_checkpoint(str(src), str(dst))
    ours, meta = our_outputs(reduced_config(case.config), dst)
    assert meta['source'] == case.layout
    assert meta['config'] == case.config
    assert meta['norm'] == ('inplace_abn' if case.inplace_abn else 'bn')
    diff = assert_same_logits(ours, reference)
    print(f'{key}: max abs logit difference {diff:.2e}')


@pytest.mark.parametrize('key', sorted(CASES))
def test_layout_is_detected(key, tmp_path):
    case, _, src = reference_and_file(key, tmp_path)
    state_dict, _ = read_state_dict(str(src))
    assert detect_layout(state_dict).name == case.layout


@pytest.mark.parametrize('scales', [(0.5, 1.0), (0.5, 1.0, 2.0)],
                         ids=lambda s: '-'.join(map(str, s)))
def test_nvidia_mscale_fused_logits(scales, tmp_path):
    """NVIDIA's MscaleOCR converted to MultiScaleAttentionOCR: the logits
    fused over ``scales`` (``nscale_forward``) agree to 1e-4."""
    case, _, src = reference_and_file('nvidia-mscale', tmp_path)
    torch.manual_seed(0)
    reference = build_reference(case)
    x = reference_input(image(), case)
    randomize_and_calibrate(reference, x)  # the same weights as saved
    dst = tmp_path / 'converted.pth'
    meta = convert_checkpoint(str(src), str(dst))
    assert meta['source'] == 'nvidia-mscale'
    assert meta['config'] == case.config
    cfg = reduced_config(case.config)
    assert cfg.model.type == 'MultiScaleAttentionOCR'
    model, _ = our_model(cfg, dst)
    model.test_cfg.scales = list(scales)
    data = dict(
        inputs=[torch.from_numpy(image()).permute(2, 0, 1)],
        data_samples=[SegDataSample()])
    with torch.no_grad():
        expected = reference.nscale_forward(x, scales)  # [1, K, H, W]
        single = reference(x)[2]  # scale 1.0 alone
        _, attention = reference.scale_outputs(x)
        inputs = model.data_preprocessor(data, False)['inputs']
        fused = model.multi_scale_logits(inputs)
    # the attention is neither saturated nor constant: the fusion matters
    assert 0.05 < attention.mean() < 0.95 and attention.std() > 0.02
    assert fused.shape == expected.shape == (1, case.num_classes, H, W)
    assert expected.abs().max() > 1
    assert (expected - single).abs().max() > 1e-2  # the scales count
    diff = (fused - expected).abs().max().item()
    assert diff <= 1e-4, f'fused logits differ by {diff:.3g}'
    print(f'nvidia-mscale {scales}: max abs logit difference {diff:.2e}')


def test_meta_and_dropped_keys(tmp_path):
    _, _, src = reference_and_file('openseg', tmp_path)
    meta = convert_checkpoint(str(src), str(tmp_path / 'out.pth'))
    assert len(meta['sha256']) == 64
    assert meta['source_file'] == src.name
    assert sorted(meta['dropped_keys']) == [
        'module.backbone.final_layer.0.weight',
        'module.backbone.incre_modules.0.0.conv1.weight'
    ]
    rules = ' '.join(meta['rules'])
    assert 'folded' in rules and '|weight| + 1e-05' in rules
    _, _, src = reference_and_file('hrnet-ocr-torch11', tmp_path)
    meta = convert_checkpoint(str(src), str(tmp_path / 'out.pth'))
    assert meta['dropped_keys'] == ['loss.criterion.weight']


def test_inplace_abn_scale_and_bias_folding(tmp_path):
    """The two numeric rules, on one layer each."""
    _, _, src = reference_and_file('openseg', tmp_path)
    state_dict, _ = read_state_dict(str(src))
    converted, _ = convert_state_dict(state_dict, 'openseg')
    gamma = state_dict['module.conv3x3.1.weight']
    assert (gamma < 0).any()  # the abs rule is exercised
    torch.testing.assert_close(
        converted['decode_head.1.bottleneck.bn.weight'],
        gamma.abs() + 1e-5)
    torch.testing.assert_close(
        converted['decode_head.1.bottleneck.bn.running_mean'],
        state_dict['module.conv3x3.1.running_mean'] -
        state_dict['module.conv3x3.0.bias'])
    assert 'decode_head.1.bottleneck.conv.bias' not in converted


def _stock_hrnet(cfg: Config) -> None:
    cfg.model.backbone.type = 'HRNet'  # MMSeg's fuse upsampling
    cfg.model.backbone.pop('align_corners')


def _relu_heads(cfg: Config) -> None:
    for head in cfg.model.decode_head:
        head.act_cfg = dict(type='ReLU')


def _heads_without_align_corners(cfg: Config) -> None:
    for head in cfg.model.decode_head:
        head.align_corners = False


@pytest.mark.parametrize(
    'change', [_stock_hrnet, _relu_heads, _heads_without_align_corners],
    ids=lambda f: f.__name__.strip('_'))
def test_each_reference_option_matters(change, tmp_path):
    """Without one of the openseg config's options the logits move far
    beyond the 1e-4 bound: the comparison above can fail."""
    case, reference, src = reference_and_file('openseg', tmp_path)
    dst = tmp_path / 'converted.pth'
    convert_checkpoint(str(src), str(dst))
    cfg = reduced_config(case.config)
    change(cfg)
    (_, out, _), _ = our_outputs(cfg, dst)
    assert (out - reference[1]).abs().max() > 1e-3
