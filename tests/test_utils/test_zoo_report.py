"""The benchmark's report (deltas, the Markdown table) and its
measurements (stock equivalent, peak memory)."""
import copy

import pytest
import torch
from mmengine.config import Config

from mmseg_ocr_plus.utils.zoo_benchmark import (
    PeakMemory,
    deltas,
    environment,
    render_markdown,
    stock_model_cfg,
)

DEMO = 'configs/demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'


def record(**kwargs) -> dict:
    base = dict(
        name='m', source='ours', config='c.py', backbone='HRNetV2p-W18',
        crop_size='512x1024', lr_schd='40000', checkpoint='http://x/m.pth',
        sha256='ab' * 32, mIoU=76.4, fps=2.5,
        published={'mIoU': 77.72, 'Inf time (fps)': 7.5},
        train_step=dict(type='T', batch_size=2, size=[512, 1024],
                        time_s=1.5, peak_memory_mb=2048.0))
    base.update(kwargs)
    return base


def test_deltas_only_where_both_exist():
    assert deltas({'mIoU': 77.72, 'Memory (GB)': 4.7},
                  {'mIoU': 76.4, 'mIoU(ms+flip)': 78.0,
                   'Memory (GB)': None}) == {'mIoU': -1.32}


def test_markdown_rows_and_failures():
    env = environment('cpu')
    assert env['threads'] == torch.get_num_threads()
    ok = record()
    ok['delta'] = deltas(ok['published'], {'mIoU': 76.4,
                                           'Inf time (fps)': 2.5})
    failed = dict(name='gone', source='mmseg', config='g.py', published={},
                  error='gone: checkpoint http://x could not be downloaded')
    text = render_markdown([ok, failed], env, 'zoo_benchmark.py --models m')
    lines = text.splitlines()
    header = next(ln for ln in lines if ln.startswith('| Source'))
    assert header.split(' | ')[2:6] == ['Method', 'Backbone', 'Crop Size',
                                        'Lr schd']
    row = next(ln for ln in lines if ln.startswith('| ours | m |'))
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[6:10] == ['- / 2.0', '7.5 / 2.5 (-5.00)',
                           '77.72 / 76.4 (-1.32)', '-']
    assert cells[-1] == '[model](http://x/m.pth) sha256 abababab'
    assert '- gone: gone: checkpoint http://x could not be downloaded' in lines
    assert '| m | T | 2 x 512x1024 | 1.500 | 2048.0 |' in lines


def test_stock_model_cfg_swaps_our_types():
    cfg = Config.fromfile(DEMO)
    model = cfg.model.to_dict()
    stock = stock_model_cfg(model)
    assert stock['type'] == 'CascadeEncoderDecoder'
    assert [h['type'] for h in stock['decode_head']] == ['FCNHead', 'OCRHead']
    assert model['type'] == 'OCRCascadeEncoderDecoder'  # not changed
    changed = copy.deepcopy(model)
    changed['decode_head'][1]['query_pool'] = 2
    with pytest.raises(ValueError, match='query_pool=2 in OCRPlusHead'):
        stock_model_cfg(changed)


def test_peak_memory_sees_an_allocation():
    with PeakMemory('cpu') as memory:
        block = torch.ones(64, 2**20 // 4)  # 64 MiB, touched
    del block
    assert memory.mib >= 60, memory.method
