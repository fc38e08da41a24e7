"""``tools/analysis_tools/benchmark_inference.py``: the floor, ratio and
target logic on hand-made numbers, a failing child, bad options, and one run
end to end on the demo config at 64x128 (one child per backend; OpenVINO
bf16 too where openvino is installed)."""
import importlib.util
import json
import re
import statistics
import sys

import pytest
import torch

from mmseg_ocr_plus.utils.inference_benchmark import (
    Target,
    check_targets,
    floor_seconds,
    format_table,
    summary_rows,
)
from mmseg_ocr_plus.utils.inference_timing import (
    ChildFailedError,
    run_child,
    time_calls,
)
from mmseg_ocr_plus.utils.preflight import InvalidInputError

TOOL = 'analysis_tools/benchmark_inference'
E2E_BACKENDS = ['stock-fp32', 'stock-bf16-keepmem',
                'fast-fp32', 'fast-bf16', 'ort-fp32'] + (
    ['openvino-bf16'] if importlib.util.find_spec('openvino') else [])


@pytest.fixture(scope='module')
def e2e_run(demo_config, start_tool, finish_tool, tmp_path_factory,
            selected_tests):
    """The tool at a tiny size, started once for the module."""
    if 'test_end_to_end_on_the_demo_config' not in selected_tests:
        pytest.skip('not selected')
    out = tmp_path_factory.mktemp('benchmark_inference') / 'result.json'
    proc = start_tool(TOOL, '--config', demo_config, '--size', 64, 128,
                      '--repeats', 1, '--warmup', 0, '--threads', 1,
                      '--backends', *E2E_BACKENDS, '--json', out)
    return finish_tool(proc), out


def test_floor_and_ratios_on_hand_made_numbers():
    # 10 GMACs at 400 GFLOP/s: 20 GFLOP take 0.05 s.
    assert floor_seconds(10 * 10**9, 400.0) == pytest.approx(0.05)
    with pytest.raises(ValueError, match='gflops > 0'):
        floor_seconds(1, 0.0)
    results = {
        'stock-fp32': dict(times_s=[2.0, 2.2, 1.9], median_s=2.0,
                           peak_mib=300.0),
        'stock-bf16': dict(times_s=[1.0], median_s=1.0, peak_mib=200.0),
        'fast-bf16': dict(times_s=[0.4], median_s=0.4, peak_mib=100.0),
        'ort-fp32': dict(status='failed: RuntimeError: boom (exit status 1)'),
    }
    floors = dict(fp32=0.5, bf16=0.1)
    rows = {row['backend']: row for row in summary_rows(results, floors)}
    assert rows['stock-fp32']['x_stock'] == 1.0
    assert rows['stock-fp32']['x_floor'] == pytest.approx(4.0)
    assert rows['stock-fp32']['repeats'] == 3
    assert rows['fast-bf16']['x_stock'] == pytest.approx(0.4)  # vs bf16
    assert rows['fast-bf16']['x_floor'] == pytest.approx(4.0)
    assert rows['ort-fp32']['median_s'] is None
    table = format_table(list(rows.values()))
    assert table.splitlines()[0].split() == [
        'backend', 's/img', '(median', 'of', 'N)', 'x', 'stock', 'x',
        'floor', 'peak', 'MiB'
    ]
    assert '2.0000 (of 3)' in table and '4.00' in table
    assert 'ort-fp32' in table and 'failed: RuntimeError: boom' in table


def test_targets_pass_fail_and_skip():
    medians = {'stock-bf16': 1.0, 'fast-bf16': 0.4, 'stock-fp32': 2.0,
               'fast-fp32': 1.5}
    floors = dict(fp32=0.5, bf16=0.1)
    results = check_targets(
        medians, floors, reasons={'ort-fp32': 'skipped (onnx not installed)'})
    by_target = {str(r.target): r for r in results}
    passed = by_target['fast-bf16 <= 0.5x stock-bf16']
    assert (passed.status, passed.ratio) == ('PASS', pytest.approx(0.4))
    failed = by_target['fast-bf16 <= 2x floor(bf16)']  # 0.4 / 0.1 = 4x
    assert (failed.status, failed.ratio) == ('FAIL', pytest.approx(4.0))
    assert by_target['fast-fp32 <= 0.5x stock-fp32'].status == 'FAIL'
    skipped = by_target['ort-fp32 <= 0.5x stock-fp32']
    assert skipped.status == (
        'skipped (ort-fp32 skipped (onnx not installed))')
    assert skipped.ratio is None and skipped.line().startswith('skipped')
    assert failed.line() == 'FAIL fast-bf16 <= 2x floor(bf16) (measured 4.00x)'
    # The limit itself passes; no floor measured: skipped.
    edge = check_targets({'a': 1.0, 'b': 2.0}, {}, targets=[])
    assert edge == []
    no_floor = check_targets(medians, {}, targets=[
        Target('fast-bf16', 'floor', 2.0),
        Target('fast-bf16', 'stock-bf16', 0.4)
    ])
    assert no_floor[0].status == 'skipped (floor not measured)'
    assert no_floor[1].status == 'PASS'


def test_run_child_and_time_calls():
    ok = run_child([sys.executable, '-c', 'print("log"); print(\'{"a": 1}\')'])
    assert ok == {'a': 1}
    with pytest.raises(ChildFailedError,
                       match=r'^ValueError: bad size \(exit status 1\)$'):
        run_child([sys.executable, '-c', 'raise ValueError("bad size")'])
    with pytest.raises(ChildFailedError, match='no output on stderr'):
        run_child([sys.executable, '-c', 'print("not json")'])
    times, peak_mib = time_calls(lambda: None, warmup=2, repeats=3)
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert peak_mib >= 0
    with pytest.raises(ValueError, match='repeats >= 1'):
        time_calls(lambda: None, warmup=0, repeats=0)


def test_a_failed_child_is_reported_and_the_run_goes_on(
        load_tool, monkeypatch, capsys, tmp_path):
    tool = load_tool(TOOL)

    def fake_run_child(command, env=None, timeout=None):
        what = command[command.index('--child') + 1]
        if what == 'fast-fp32':
            raise ChildFailedError('RuntimeError: out of memory (exit '
                                   'status 1)')
        if what == 'matmul':
            return dict(fp32=100.0, bf16=400.0)
        if what == 'macs':
            return dict(macs=10**9)
        return dict(times_s=[0.1], median_s=0.1, peak_mib=5.0)

    monkeypatch.setattr(tool, 'run_child', fake_run_child)
    out = tmp_path / 'result.json'
    with pytest.raises(SystemExit) as exit_info:
        tool.main(['--backends', 'stock-fp32', 'fast-fp32', 'ours-fp32',
                   '--json', str(out)])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert re.search(r'\nfast-fp32 +failed: RuntimeError: out of memory',
                     captured.out)
    assert 'fast-fp32: failed: RuntimeError' in captured.err
    report = json.loads(out.read_text())
    assert report['backends']['ours-fp32']['median_s'] == 0.1
    assert report['floors_s'] == dict(fp32=0.02, bf16=0.005)
    assert report['failures'] == [
        'fast-fp32: failed: RuntimeError: out of memory (exit status 1)'
    ]


def test_bad_options_name_the_option(load_tool, capsys):
    tool = load_tool(TOOL)
    with pytest.raises(SystemExit) as exit_info:
        tool.main(['--backends', 'stock-fp32', 'tensorrt-fp16'])
    assert exit_info.value.code == 2
    assert "argument --backends: invalid choice: 'tensorrt-fp16'" in (
        capsys.readouterr().err)
    with pytest.raises(InvalidInputError, match='--size: expected H and W '
                       '>= 32, got 0 128'):
        tool.main(['--size', '0', '128'])
    with pytest.raises(InvalidInputError, match='--repeats: expected an '
                       'integer >= 1, got 0'):
        tool.main(['--repeats', '0'])
    with pytest.raises(InvalidInputError, match='--backends: fast-fp16 '
                       'cannot run with --device cpu; expected some of '
                       'stock-fp32, stock-bf16'):
        tool.main(['--backends', 'stock-fp32', 'fast-fp16'])
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match='--device cuda: this '
                           'PyTorch sees no CUDA device'):
            tool.main(['--device', 'cuda'])


def test_end_to_end_on_the_demo_config(e2e_run):
    result, out = e2e_run
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    backends = report['backends']
    assert list(backends) == E2E_BACKENDS
    for name in E2E_BACKENDS:
        assert backends[name]['median_s'] > 0
        assert backends[name]['median_s'] == statistics.median(
            backends[name]['times_s'])
        assert len(backends[name]['times_s']) == 1
    assert report['stock_macs'] > 0
    assert set(report['matmul_gflops']) == {'fp32', 'bf16'}
    rows = {row['backend']: row for row in report['rows']}
    stock = backends['stock-fp32']['median_s']
    for name in ('fast-fp32', 'ort-fp32'):
        assert rows[name]['x_stock'] == pytest.approx(
            backends[name]['median_s'] / stock)
    bf16_floor = floor_seconds(report['stock_macs'],
                               report['matmul_gflops']['bf16'])
    assert rows['fast-bf16']['x_floor'] == pytest.approx(
        backends['fast-bf16']['median_s'] / bf16_floor)
    assert rows['fast-bf16']['x_stock'] is None  # stock-bf16 did not run
    targets = {t['target']: t for t in report['targets']}
    assert targets['fast-fp32 <= 0.5x stock-fp32']['status'] in ('PASS',
                                                                  'FAIL')
    assert targets['fast-bf16 <= 0.5x stock-bf16']['status'] == (
        'skipped (stock-bf16 not run)')
    assert 's/img (median of N)  x stock  x floor  peak MiB' in result.stdout
    assert re.search(r'\nfast-bf16 +[0-9.]+ \(of 1\) +- +[0-9.]+ ',
                     result.stdout)  # no stock-bf16: no x stock
    assert 'targets (printed, not the exit status):' in result.stdout


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_end_to_end_on_cuda(demo_config, start_tool, finish_tool, tmp_path):
    backends = [
        'stock-fp32', 'stock-fp16', 'ours-fp32', 'fast-fp32', 'fast-fp16',
        'fast-fp16-cl', 'fast-fp16-graph', 'fast-fp16-compile'
    ]
    out = tmp_path / 'result.json'
    result = finish_tool(
        start_tool(TOOL, '--config', demo_config, '--device', 'cuda',
                   '--size', 64, 128, '--repeats', 3, '--warmup', 1,
                   '--backends', *backends, '--json', out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert list(report['backends']) == backends
    assert set(report['matmul_gflops']) == {'fp32', 'fp16'}
    rows = {row['backend']: row for row in report['rows']}
    for name in backends:
        assert report['backends'][name]['median_s'] > 0
        assert report['backends'][name]['setup_s'] > 0
        assert rows[name]['peak_mib'] > 0
    assert rows['fast-fp16-graph']['x_stock'] == pytest.approx(
        report['backends']['fast-fp16-graph']['median_s'] /
        report['backends']['stock-fp16']['median_s'])
    targets = {t['target']: t for t in report['targets']}
    assert targets['fast-fp16 <= 0.5x stock-fp16']['ratio'] == pytest.approx(
        rows['fast-fp16']['x_stock'])
