"""``tools/train.py`` end to end, on the demo config shrunk to 64x64 crops:
resume after a kill, DDP on CPU, bf16 ``--amp`` on CPU, and bad inputs."""
import math
import shutil
import signal
import socket

import pytest
import torch

from mmseg_ocr_plus.utils.preflight import InvalidInputError


@pytest.fixture(scope='module')
def runs(request, selected_tests, tmp_path_factory, start_tool, finish_tool,
         demo_config, tiny_options, demo_data_root, write_hook_config):
    """Start the training runs of the selected tests together; wait for all.

    Returns:
        dict: Per run, its work dir (``<name>_dir``) and its
        ``CompletedProcess`` (``<name>``).
    """
    root = tmp_path_factory.mktemp('train')
    started, dirs = {}, {}

    def start(name, *args, **kwargs):
        dirs[f'{name}_dir'] = root / name
        started[name] = start_tool(*args, '--work-dir', root / name,
                                   **kwargs)

    if 'test_resume_continues_iterations_and_lr' in selected_tests:
        killed = request.getfixturevalue('reference_and_killed_runs')
        dirs['resumed_dir'] = killed['killed']
        started['resumed'] = start_tool(
            'train', demo_config, '--work-dir', killed['killed'], '--resume',
            '--cfg-options', *tiny_options(demo_data_root))
    if 'test_ddp_ranks_hold_identical_weights' in selected_tests:
        config = write_hook_config(root / 'dump_state.py',
                                   [dict(type='DumpStateHook')])
        with socket.socket() as sock:  # a free port for the rendezvous
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        start(
            'ddp',
            'dist_train.sh',
            config,
            2,  # processes
            '--cfg-options',
            *tiny_options(demo_data_root, **{'train_cfg.max_iters': 4}),
            env=dict(PORT=str(port)))
    if 'test_amp_trains_in_bfloat16_on_cpu' in selected_tests:
        start('amp', 'train', demo_config, '--amp', '--cfg-options',
              *tiny_options(demo_data_root, **{'train_cfg.max_iters': 2}))
    if 'test_corrupt_image' in selected_tests:
        data_root = shutil.copytree(demo_data_root, root / 'corrupt_data')
        corrupt = sorted((data_root / 'leftImg8bit/train').rglob('*.png'))[3]
        corrupt.write_bytes(corrupt.read_bytes()[:100])  # cut off
        dirs['corrupt_file'] = corrupt
        # 4 iterations of 2 read all 8 images, before the checkpoint at 4.
        start(
            'corrupt', 'train', demo_config, '--cfg-options',
            *tiny_options(
                data_root, **{
                    'train_cfg.max_iters': 4,
                    'default_hooks.checkpoint.interval': 4,
                    'train_dataloader.num_workers': 1,  # error crosses procs
                }))
    if 'test_missing_config' in selected_tests:
        dirs['missing_config_path'] = root / 'no_such_config.py'
        start('missing_config', 'train', dirs['missing_config_path'])
    return {**dirs, **{k: finish_tool(p) for k, p in started.items()}}


def assert_clean_error(result, *fragments: str) -> None:
    """Exit status 2 and one error line on stderr, with no traceback."""
    assert result.returncode == 2, result.stderr
    assert 'Traceback' not in result.stderr, result.stderr
    # OpenCV's own warnings ('[ WARN:0@...] ... PNG input buffer is
    # incomplete') may come from a loader worker still prefetching.
    lines = [
        line for line in result.stderr.strip().splitlines()
        if not line.startswith('[ WARN:')
    ]
    last_line = lines[-1]
    assert last_line.startswith('train.py: error: '), result.stderr
    for fragment in fragments:
        assert fragment in last_line, last_line


def test_resume_continues_iterations_and_lr(runs, reference_and_killed_runs,
                                            read_train_scalars):
    first = reference_and_killed_runs
    assert first['reference_result'].returncode == 0, (
        first['reference_result'].stderr)
    # Killed by its own hook right after the checkpoint at iteration 3.
    assert first['killed_result'].returncode == -signal.SIGKILL
    assert 'iter_3.pth' in first['killed_files']
    assert 'iter_6.pth' not in first['killed_files']
    assert first['killed_files']['last_checkpoint'].endswith('iter_3.pth')

    resumed = runs['resumed']
    assert resumed.returncode == 0, resumed.stderr
    assert 'resumed epoch: 0, iter: 3' in resumed.stdout
    checkpoint = torch.load(
        runs['resumed_dir'] / 'iter_6.pth',
        map_location='cpu',
        weights_only=False)
    assert checkpoint['meta']['iter'] == 6

    reference = {
        r['iter']: r['lr']
        for r in read_train_scalars(first['reference'])
    }
    interrupted = read_train_scalars(runs['resumed_dir'])  # killed, resumed
    assert [r['iter'] for r in interrupted] == [1, 2, 3, 4, 5, 6]
    assert sorted(reference) == [1, 2, 3, 4, 5, 6]
    # Warm-up changes the LR every iteration: a restarted schedule shows.
    assert len(set(reference.values())) == 6
    for record in interrupted:
        assert record['lr'] == pytest.approx(
            reference[record['iter']], rel=1e-9), record


def test_ddp_ranks_hold_identical_weights(runs):
    assert runs['ddp'].returncode == 0, runs['ddp'].stderr
    work_dir = runs['ddp_dir']

    def load(name, **kwargs):
        return torch.load(work_dir / name, map_location='cpu', **kwargs)

    # Written by DumpStateHook on each rank, before and after training.
    before = [load(f'state_rank{rank}_before.pth') for rank in (0, 1)]
    after = [load(f'state_rank{rank}_after.pth') for rank in (0, 1)]
    saved = load('iter_4.pth', weights_only=False)['state_dict']
    stats = ('running_mean', 'running_var', 'num_batches_tracked')
    params = [k for k in saved if not k.endswith(stats)]
    assert params and set(saved) == set(after[0]) == set(after[1])
    for name in params:
        # All-reduced gradients: bit-identical on both ranks and in the
        # checkpoint that rank 0 saved.
        torch.testing.assert_close(
            after[1][name], after[0][name], rtol=0, atol=0, msg=name)
        torch.testing.assert_close(
            saved[name], after[0][name], rtol=0, atol=0, msg=name)
    assert any(not torch.equal(before[0][k], after[0][k]) for k in params)
    # BN statistics stay local (BN, not SyncBN): that they differ shows
    # that each rank trained on its own half of the data.
    assert any(not torch.equal(after[0][k], after[1][k]) for k in saved
               if k.endswith('running_mean'))


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='--amp picks float16 on a GPU')
def test_amp_trains_in_bfloat16_on_cpu(runs, demo_config,
                                       read_train_scalars):
    assert runs['amp'].returncode == 0, runs['amp'].stderr
    dumped = (runs['amp_dir'] / demo_config.name).read_text()
    assert "type='AutocastOptimWrapper'" in dumped
    assert "dtype='bfloat16'" in dumped
    records = read_train_scalars(runs['amp_dir'])
    assert [r['iter'] for r in records] == [1, 2]
    assert all(math.isfinite(r['loss']) for r in records)


def test_corrupt_image(runs):
    corrupt = runs['corrupt_file']
    assert_clean_error(runs['corrupt'], f'{corrupt}: not a readable image',
                       "results['img_path']")
    # It failed in the first pass over the data, before any checkpoint.
    assert not list(runs['corrupt_dir'].glob('*.pth'))
    assert not (runs['corrupt_dir'] / 'last_checkpoint').exists()


def test_missing_config(runs):
    missing = runs['missing_config_path']
    assert_clean_error(runs['missing_config'], f"config '{missing}'",
                       'expected a config file')
    assert not runs['missing_config_dir'].exists()


def test_missing_data_root(tmp_path, monkeypatch, load_tool, demo_config,
                           tiny_options):
    # In this process: the check runs before anything is built.
    monkeypatch.setenv('LOCAL_RANK', '0')
    work_dir = tmp_path / 'work_dir'
    missing = tmp_path / 'demo_cityscapes'
    with pytest.raises(InvalidInputError) as info:
        load_tool('train').main([
            str(demo_config), '--work-dir',
            str(work_dir), '--cfg-options', *tiny_options(missing)
        ])
    message = str(info.value)
    assert message.startswith(
        f"train_dataloader.dataset.data_root '{missing}'")
    assert f'python tools/misc/make_demo_dataset.py {missing}' in message
    assert not work_dir.exists()
