"""``tools/analysis_tools/get_flops.py``: params and MACs by part, on
cascade models too (where MMSeg's own script fails)."""
import json
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.model import revert_sync_batchnorm
from mmseg.registry import MODELS
from torch import nn

from mmseg_ocr_plus.models.utils import conv1x1
from mmseg_ocr_plus.utils import InvalidInputError, model_complexity

HR18S = 'configs/ocrnet_plus/ocrnet_hr18s_4xb2-40k_cityscapes-512x1024.py'


class AddedConv(nn.Conv2d):
    """Adds its 1x1 conv to ``out`` in place (``baddbmm_``, as the fuse)."""

    def forward(self, x, out):
        return conv1x1(x, self.weight, add_to=out)


class TinySegmentor(nn.Module):
    """Parts named like a segmentor's; MACs easy to count by hand."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.decode_head = nn.ModuleList(
            [nn.Conv2d(8, 4, 1), AddedConv(8, 4, 1, bias=False)])
        self.auxiliary_head = nn.Conv2d(8, 2, 1)  # not run at inference

    def forward(self, x):
        x = self.backbone(x)
        return self.decode_head[1](x, self.decode_head[0](x))


def test_hand_counted_macs_and_params():
    result = model_complexity(TinySegmentor(), (1, 3, 10, 12))
    hw = 10 * 12
    parts = {p.name: p for p in result.parts}
    assert list(parts) == [
        'backbone', 'decode_head.0', 'decode_head.1', 'auxiliary_head'
    ]
    assert parts['backbone'].macs == hw * 8 * 3 * 9
    assert parts['backbone'].params == 8 * 3 * 9
    assert parts['decode_head.0'].macs == hw * 4 * 8
    assert parts['decode_head.1'].macs == hw * 4 * 8
    assert parts['decode_head.1'].params == 4 * 8
    assert parts['auxiliary_head'].macs == 0
    assert not parts['auxiliary_head'].runs_at_inference
    assert result.macs == hw * (8 * 3 * 9 + 2 * 4 * 8)
    assert result.params == 8 * 27 + 36 + 32 + 18
    with pytest.raises(ValueError, match='four positive ints'):
        model_complexity(TinySegmentor(), (3, 10, 12))


def test_cli_splits_an_ocrnet_into_backbone_aux_and_ocr_head(
        load_tool, capsys):
    tool = load_tool('analysis_tools/get_flops')
    result = tool.main([HR18S, '--shape', '64', '128', '--json'])
    printed = json.loads(capsys.readouterr().out)
    assert printed['input_shape'] == [1, 3, 64, 128]
    assert [(p['name'], p['type']) for p in printed['parts']] == [
        ('backbone', 'HRNet'), ('decode_head.0', 'SoftRegionHead'),
        ('decode_head.1', 'OCRPlusHead')
    ]
    assert round(printed['params'] / 1e6, 2) == 6.38  # MMSeg's count
    assert sum(p['params'] for p in printed['parts']) == printed['params']
    assert sum(p['macs'] for p in printed['parts']) == printed['macs']
    assert all(p['macs'] > 0 for p in printed['parts'])
    assert result.macs == printed['macs']
    # The default shape is the config's crop size; tables print.
    assert tool.input_hw(tool.Config.fromfile(HR18S), None) == (512, 1024)
    tool.main([HR18S, '--shape', '64'])
    assert 'decode_head.1  OCRPlusHead' in capsys.readouterr().out
    with pytest.raises(InvalidInputError, match='--shape'):
        tool.main([HR18S, '--shape', '64', '0'])


def test_stock_mmseg_cascade_is_counted_and_ours_does_less(load_tool):
    """MMSeg's get_flops.py fails on this config (issue 3781); ours counts
    it, and our OCR head needs fewer MACs for the same function."""
    tool = load_tool('analysis_tools/get_flops')
    cfg = get_config(f'mmseg::ocrnet/{Path(HR18S).name}')
    stock = tool.complexity_of_config(cfg, (64, 128))
    ours = tool.complexity_of_config(tool.Config.fromfile(HR18S), (64, 128))
    assert stock.params == ours.params
    stock_parts = {p.name: p.macs for p in stock.parts}
    ours_parts = {p.name: p.macs for p in ours.parts}
    assert ours_parts['backbone'] == stock_parts['backbone']
    assert ours_parts['decode_head.1'] < stock_parts['decode_head.1']


@pytest.mark.parametrize('name,millions', [
    ('ocrnet_hr18s_4xb2-40k_cityscapes-512x1024.py', 6.38),
    ('ocrnet_hr18_4xb2-40k_cityscapes-512x1024.py', 12.08),
    ('ocrnet_hr48_4xb2-40k_cityscapes-512x1024.py', 70.37),
    ('ocrnet_r101-d8_4xb2-40k_cityscapes-512x1024.py', 55.52),
])
def test_parameter_counts_equal_mmseg(name, millions):
    counts = []
    for cfg in (get_config(f'mmseg::ocrnet/{name}'),
                Config.fromfile(f'configs/ocrnet_plus/{name}')):
        cfg.model.pretrained = None
        model = revert_sync_batchnorm(MODELS.build(cfg.model))
        counts.append(sum(p.numel() for p in model.parameters()))
    assert counts[0] == counts[1]
    assert round(counts[1] / 1e6, 2) == millions
