"""``tools/analysis_tools/convergence.py``: recipes trained from the same
initial weights and seed, evaluated on a schedule, written as JSON, a table
and a plot."""
import json
from pathlib import Path

import pytest
import torch

from mmseg_ocr_plus.utils.preflight import InvalidInputError

STOCK_CONFIG = (Path(__file__).resolve().parents[2] / 'configs/demo/'
                'ocrnet-stock_hr18s_1xb8-200it_demo-cityscapes-128x128.py')


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('analysis_tools/convergence')


def test_stock_and_ours_start_equal_and_stay_equal(tool, demo_config,
                                                   demo_data_root,
                                                   tiny_options, tmp_path):
    # Stock MMSeg OCRNet and ours compute the same function: from the same
    # weights, seed and batches they must train to the same weights.
    options = tiny_options(demo_data_root, **{'train_cfg.val_begin': 1})
    tool.main([
        '--work-dir', str(tmp_path), '--iters', '2', '--eval-interval', '1',
        '--recipe', 'stock', str(STOCK_CONFIG), *options,
        '--recipe', 'ours', str(demo_config), *options
    ])
    report = json.loads((tmp_path / 'convergence.json').read_text())
    stock, ours = report['results']
    assert [r['iter'] for r in stock['records']] == [1, 2]
    assert [r['iter'] for r in ours['records']] == [1, 2]
    times = [r['train_time'] for r in ours['records']]
    assert 0 < times[0] < times[1]
    for a, b in zip(stock['records'], ours['records']):
        assert 0 <= a['mIoU'] <= 100
        assert a['mIoU'] == pytest.approx(b['mIoU'], abs=1.0)

    trained = [
        torch.load(tmp_path / name / 'iter_2.pth', weights_only=False)
        ['state_dict'] for name in ('stock', 'ours')
    ]
    init = torch.load(tmp_path / 'init_weights.pth')['state_dict']
    # Parameters only: stock MMSeg runs its aux head twice per step, which
    # updates that head's BN running statistics twice.
    keys = [k for k in init if init[k].is_floating_point()
            and 'running_' not in k]

    def flat(state):
        return torch.cat([state[k].flatten() for k in keys])

    moved = (flat(trained[1]) - flat(init)).norm()
    differ = (flat(trained[0]) - flat(trained[1])).norm()
    assert moved > 0  # training moved the weights ...
    # ... equally for both, up to rounding (measured: 1 % of the movement);
    # from different initial weights they would differ by far more.
    assert differ < 0.1 * moved

    table = (tmp_path / 'convergence.md').read_text()
    assert '| stock | 2 |' in table and '| ours | 2 |' in table
    assert (tmp_path / 'convergence.png').stat().st_size > 0


def test_recipe_whose_model_differs_is_refused_before_training(
        tool, demo_config, demo_data_root, tiny_options, tmp_path):
    options = tiny_options(demo_data_root)
    with pytest.raises(InvalidInputError, match='--recipe narrow: .* keys'):
        tool.main([
            '--work-dir', str(tmp_path), '--eval-interval', '1',
            '--recipe', 'ours', str(demo_config), *options,
            '--recipe', 'narrow', str(demo_config), *options,
            'model.decode_head.1.channels=64'
        ])
    assert not any(tmp_path.iterdir())  # nothing written


def test_recipe_tokens(tool):
    recipe = tool.parse_recipe(['x', 'a.py', 'train_cfg.max_iters=3', 'amp'])
    assert recipe == dict(
        name='x', config='a.py', options={'train_cfg.max_iters': 3},
        amp=True)
    with pytest.raises(InvalidInputError, match="got 'fast'"):
        tool.parse_recipe(['x', 'a.py', 'fast'])


def test_table_compares_at_the_first_recipes_training_time(tool):
    results = [
        dict(name='stock', records=[
            dict(iter=10, train_time=10.0, mIoU=5.0),
            dict(iter=20, train_time=20.0, mIoU=8.0)]),
        dict(name='fast', records=[
            dict(iter=10, train_time=6.0, mIoU=6.0),
            dict(iter=20, train_time=12.0, mIoU=9.0),
            dict(iter=30, train_time=18.0, mIoU=11.0),
            dict(iter=40, train_time=24.0, mIoU=12.5)]),
    ]
    table = tool.markdown(results)
    assert 'mIoU at 20 s' in table
    assert '| stock | 20 | 20 | 1.00 | 8.00 | 8.00 | 8.00 |' in table
    assert '| fast | 40 | 24 | 0.60 | 12.50 | 12.50 | 11.00 |' in table
