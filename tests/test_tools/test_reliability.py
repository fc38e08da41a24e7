"""Bad checkpoints, label maps and datasets, and training faults, through
the real ``tools/train.py`` and ``tools/test.py`` (issue 16): each is one
line on stderr and exit status 2, or a resume that ends bit-identical.

The runs of the selected tests start together (``runs``); the resumes after
the kills start when the kills are done. Checkpoints for the loading tests
are the demo model's initial weights, saved here, so that they need no
training run.
"""
import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from mmseg_ocr_plus.utils.preflight import InvalidInputError

SEED = 0  # the reference and the killed runs draw the same batches
# 4 iterations, checkpoints at 2 and 4.
TRAIN = {
    'randomness.seed': SEED,
    'train_cfg.max_iters': 4,
    'default_hooks.checkpoint.interval': 2,
}
# The demo model with 150 classes: its classifiers do not fit 19.
CLASSES_150 = {
    'model.decode_head.0.num_classes': 150,
    'model.decode_head.1.num_classes': 150,
}


def fault_config(path: Path, demo_config: Path, *hooks: dict) -> Path:
    """A config inheriting the demo config, its custom hooks and
    ``hooks`` from ``fault_hooks.py``."""
    path.write_text(
        f'_base_ = [{str(demo_config)!r}]\n'
        "custom_imports = dict(imports=['mmseg_ocr_plus', 'fault_hooks'], "
        'allow_failed_imports=False)\n'
        f'custom_hooks = [*_base_.custom_hooks, *{list(hooks)!r}]\n')
    return path


def error_line(result, tool: str) -> str:
    """The one error line of a tool that exited with status 2."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr, result.stderr
    lines = [
        line for line in result.stderr.strip().splitlines()
        if not line.startswith('[ WARN:')  # OpenCV's own warnings
    ]
    assert lines[-1].startswith(f'{tool}.py: error: '), result.stderr
    return lines[-1][len(f'{tool}.py: error: '):]


@pytest.fixture(scope='module')
def initial_checkpoint(tmp_path_factory, demo_config) -> Path:
    """The demo model's initial weights (19 classes) as a checkpoint."""
    torch.manual_seed(SEED)
    model = MODELS.build(Config.fromfile(demo_config).model)
    path = tmp_path_factory.mktemp('checkpoints') / 'demo_19_classes.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


@pytest.fixture(scope='module')
def runs(selected_tests, tmp_path_factory, start_tool, finish_tool,
         demo_config, tiny_options, demo_data_root, initial_checkpoint):
    """Start the runs of the selected tests together; wait for all.

    Returns:
        dict: Per run, its work dir (``<name>_dir``), other paths and its
        ``CompletedProcess`` (``<name>``).
    """
    root = tmp_path_factory.mktemp('reliability')
    started, paths = {}, {}

    def start(name, tool, config, *args, data_root=demo_data_root,
              **overrides):
        paths[f'{name}_dir'] = root / name
        started[name] = start_tool(
            tool, config, *args, '--work-dir', root / name, '--cfg-options',
            *tiny_options(data_root, **overrides))

    if 'test_resume_after_kills_is_bit_identical' in selected_tests:
        start('reference', 'train', demo_config, **TRAIN)
        for name, hook in (('killed_in_iter', 'KillDuringIterHook'),
                           ('killed_in_save', 'KillDuringSaveHook')):
            at_iter = 3 if name == 'killed_in_iter' else 4
            config = fault_config(root / f'{name}.py', demo_config,
                                  dict(type=hook, at_iter=at_iter))
            start(name, 'train', config, **TRAIN)
    if 'test_mismatched_checkpoint_stops_test' in selected_tests:
        start('mismatch', 'test', demo_config, initial_checkpoint,
              **CLASSES_150)
    if 'test_allow_partial_then_label_map_of_another_size' in (
            selected_tests):
        # Loads partially, then meets a label map of half the image size.
        data_root = shutil.copytree(demo_data_root, root / 'label_size')
        label_path = sorted((data_root / 'gtFine/val').rglob('*Ids.png'))[0]
        label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(
            str(label_path),
            cv2.resize(label, (64, 32), interpolation=cv2.INTER_NEAREST))
        paths['small_label'] = label_path
        start('partial', 'test', demo_config, initial_checkpoint,
              '--allow-partial', data_root=data_root, **CLASSES_150)
    if 'test_train_allow_partial_and_non_finite_loss_hook_off' in (
            selected_tests):
        start(
            'partial_train', 'train', demo_config, '--allow-partial', **{
                'load_from': initial_checkpoint,
                **CLASSES_150,
                'train_cfg.max_iters': 1,
                'model.decode_head.1.loss_decode.loss_weight': 'nan',
                'custom_hooks': '[]',
            })
    if 'test_damaged_checkpoints' in selected_tests:
        truncated = root / 'truncated.pth'
        good = initial_checkpoint.read_bytes()
        truncated.write_bytes(good[:len(good) // 3])  # a cut-off copy
        paths['truncated_path'] = truncated
        start('truncated', 'test', demo_config, truncated)
        evil = root / 'evil.pth'
        paths['marker'] = root / 'pickle_ran'
        torch.save(
            {
                'state_dict': {},
                'meta': _Call(os.system, f"touch {paths['marker']}")
            }, evil)
        paths['evil_path'] = evil
        start('evil', 'test', demo_config, evil)
    if 'test_out_of_range_label_values' in selected_tests:
        data_root = shutil.copytree(demo_data_root, root / 'label_25')
        labels = sorted((data_root / 'gtFine/train').rglob('*Ids.png'))
        for label_path in labels:  # every one: the first batch has one
            label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
            label[:4, :7] = 25  # 19 classes: 0-18, and 255
            cv2.imwrite(str(label_path), label)
        paths['bad_labels'] = labels
        start(
            'label_25',
            'train',
            demo_config,
            data_root=data_root,
            **{'train_dataloader.num_workers': 1})  # raised in a worker
    if 'test_non_finite_loss_stops_training' in selected_tests:
        config = fault_config(root / 'nan.py', demo_config,
                              dict(type='NaNWeightsHook', at_iter=3))
        start('nan', 'train', config, **TRAIN)
    results = {name: finish_tool(proc) for name, proc in started.items()}

    # Resume the killed runs, together.
    resumed = {}
    for name in ('killed_in_iter', 'killed_in_save'):
        if name not in results:
            continue
        paths[f'{name}_files'] = {
            path.name: path.read_text()
            if path.name == 'last_checkpoint' else path.stat().st_size
            for path in paths[f'{name}_dir'].iterdir() if path.is_file()
        }
        resumed[f'{name}_resumed'] = start_tool(
            'train', demo_config, '--work-dir', paths[f'{name}_dir'],
            '--resume', '--cfg-options',
            *tiny_options(demo_data_root, **TRAIN))
    results.update({k: finish_tool(p) for k, p in resumed.items()})
    return {**paths, **results}


class _Call:
    """Pickles as ``fn(*args)``."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def assert_identical(found, expected, where='checkpoint'):
    """Nested dicts/lists of tensors and numbers, bit for bit."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(found, torch.Tensor), where
        assert found.dtype == expected.dtype, where
        assert torch.equal(found, expected), where
    elif isinstance(expected, dict):
        assert found.keys() == expected.keys(), where
        for key in expected:
            assert_identical(found[key], expected[key], f'{where}.{key}')
    elif isinstance(expected, (list, tuple)):
        assert len(found) == len(expected), where
        for i, (a, b) in enumerate(zip(found, expected)):
            assert_identical(a, b, f'{where}[{i}]')
    else:
        assert found == expected, where


@pytest.mark.slow
def test_resume_after_kills_is_bit_identical(runs):
    reference = runs['reference']
    assert reference.returncode == 0, reference.stderr[-3000:]
    expected = torch.load(
        runs['reference_dir'] / 'iter_4.pth', weights_only=False)
    for name in ('killed_in_iter', 'killed_in_save'):
        killed_dir = runs[f'{name}_dir']
        assert runs[name].returncode == -9, runs[name].stderr[-3000:]
        files = runs[f'{name}_files']
        # Killed after the checkpoint at 2: that is the last one, complete.
        assert files['last_checkpoint'] == str(killed_dir / 'iter_2.pth')
        assert 'iter_4.pth' not in files
        if name == 'killed_in_save':  # the cut-off write never took the name
            assert 0 < files['iter_4.pth.partial'] < files['iter_2.pth']

        resumed = runs[f'{name}_resumed']
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert 'resumed epoch: 0, iter: 2' in resumed.stdout
        assert not (killed_dir / 'iter_4.pth.partial').exists()
        found = torch.load(killed_dir / 'iter_4.pth', weights_only=False)
        assert found['meta']['iter'] == 4
        assert_identical(found['state_dict'], expected['state_dict'],
                         f'{name}: state_dict')
        assert_identical(found['optimizer'], expected['optimizer'],
                         f'{name}: optimizer')


def test_mismatched_checkpoint_stops_test(runs, initial_checkpoint):
    line = error_line(runs['mismatch'], 'test')
    assert line == (
        f"checkpoint '{initial_checkpoint}' does not match the config's "
        'model: decode_head.*.conv_seg: checkpoint has 19 classes, the '
        'config 150; to load only the matching weights (fine-tuning), pass '
        '--allow-partial')
    assert 'per class results' not in runs['mismatch'].stdout


def assert_skipped_keys_logged(log: str, checkpoint: Path) -> None:
    """The --allow-partial warning, with every key it skips."""
    assert (f"--allow-partial: loading checkpoint '{checkpoint}' "
            'partially, skipping 4 keys (left as initialised): '
            'decode_head.*.conv_seg: checkpoint has 19 classes, the config '
            '150') in log
    for key, channels in (('decode_head.0.conv_seg', 270),
                          ('decode_head.1.conv_seg', 128)):
        assert (f'{key}.weight: checkpoint shape (19, {channels}, 1, 1), '
                f'the config (150, {channels}, 1, 1)') in log
        assert f'{key}.bias: checkpoint shape (19,), the config (150,)' in log


def test_allow_partial_then_label_map_of_another_size(
        runs, initial_checkpoint):
    result = runs['partial']
    label = runs['small_label']
    image = Path(
        str(label).replace('_gtFine_labelTrainIds.png',
                           '_leftImg8bit.png').replace(
                               '/gtFine/', '/leftImg8bit/'))
    assert error_line(result, 'test') == (
        f'{label}: label map of 32x64 (HxW), expected the size of its '
        f'image {image}, 64x128')
    assert_skipped_keys_logged(result.stdout + result.stderr,
                               initial_checkpoint)


def test_train_allow_partial_and_non_finite_loss_hook_off(
        runs, initial_checkpoint, read_train_scalars):
    result = runs['partial_train']
    assert result.returncode == 0, result.stderr[-3000:]
    assert_skipped_keys_logged(result.stdout + result.stderr,
                               initial_checkpoint)
    # custom_hooks=[]: no NonFiniteLossHook, NaN losses train on.
    records = read_train_scalars(runs['partial_train_dir'])
    assert [r['iter'] for r in records] == [1]
    assert np.isnan(records[0]['loss'])


def test_damaged_checkpoints(runs):
    truncated = runs['truncated_path']
    assert error_line(runs['truncated'], 'test') == (
        f"checkpoint '{truncated}': cannot load it: it is truncated: "
        f'{truncated.stat().st_size} bytes that start like a PyTorch '
        'checkpoint (a zip archive) but lack its end, as a copy or a save '
        'cut off leaves it')

    evil = runs['evil']
    line = error_line(evil, 'test')
    assert line == (
        f"checkpoint '{runs['evil_path']}': refused: it holds a pickled "
        'posix.system, but a checkpoint may hold only weights and MMEngine '
        'training state; nothing from the file was run')
    assert 'weights_only' not in evil.stdout + evil.stderr
    assert not runs['marker'].exists()


def test_out_of_range_label_values(runs):
    line = error_line(runs['label_25'], 'train')
    match = re.fullmatch(
        r'(\S+): label map holds 25 \(28 pixels\); expected class indices '
        r'0-18 \(19 classes\) or the ignore index 255', line)
    assert match, line
    assert Path(match.group(1)) in runs['bad_labels']
    assert not list(runs['label_25_dir'].glob('*.pth'))  # no iteration


def test_non_finite_loss_stops_training(runs):
    work_dir = runs['nan_dir']
    line = error_line(runs['nan'], 'train')
    assert line.startswith('iteration 3: non-finite loss (loss = nan, ')
    assert 'decode_0.loss_ce = nan' in line or 'loss_ce = nan' in line
    assert line.endswith('); training stopped, last_checkpoint is still '
                         f'{work_dir}/iter_2.pth')
    assert (work_dir / 'last_checkpoint').read_text() == str(
        work_dir / 'iter_2.pth')
    assert sorted(p.name for p in work_dir.glob('*.pth*')) == ['iter_2.pth']
    weights = torch.load(work_dir / 'iter_2.pth',
                         weights_only=False)['state_dict']
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_split_without_images_or_labels(tmp_path, monkeypatch, load_tool,
                                        demo_config, demo_data_root,
                                        tiny_options, initial_checkpoint):
    # In this process: the check runs before anything is built.
    monkeypatch.setenv('LOCAL_RANK', '0')
    data_root = shutil.copytree(demo_data_root, tmp_path / 'data')
    for image in (data_root / 'leftImg8bit/train').rglob('*.png'):
        image.rename(image.with_suffix('.jpg'))
    work_dir = tmp_path / 'work_dir'
    with pytest.raises(InvalidInputError) as info:
        load_tool('train').main([
            str(demo_config), '--work-dir',
            str(work_dir), '--cfg-options', *tiny_options(data_root)
        ])
    assert str(info.value) == (
        f'train_dataloader.dataset: no images in {data_root}/leftImg8bit/'
        "train (searched '**/*_leftImg8bit.png', the dataset's "
        "img_suffix); expected this split's images there, or set "
        'img_suffix or data_prefix with --cfg-options')

    labels = sorted((data_root / 'gtFine/val').rglob('*Ids.png'))
    labels[1].unlink()
    with pytest.raises(InvalidInputError) as info:
        load_tool('test').main([
            str(demo_config),
            str(initial_checkpoint), '--work-dir',
            str(work_dir), '--cfg-options', *tiny_options(data_root)
        ])
    relative = labels[1].relative_to(data_root / 'gtFine/val')
    assert str(info.value) == (
        f'test_dataloader.dataset: 1 of 4 images in {data_root}/leftImg8bit/'
        f'val have no label map in {data_root}/gtFine/val (searched '
        "'<image path without _leftImg8bit.png>_gtFine_labelTrainIds.png', "
        f'e.g. {relative}); expected one label map per image')
    assert not work_dir.exists()


def test_resume_refuses_a_dangling_last_checkpoint(tmp_path, monkeypatch,
                                                   load_tool, demo_config,
                                                   demo_data_root,
                                                   tiny_options):
    monkeypatch.setenv('LOCAL_RANK', '0')
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_4.pth'))
    with pytest.raises(InvalidInputError) as info:
        load_tool('train').main([
            str(demo_config), '--work-dir',
            str(work_dir), '--resume', '--cfg-options',
            *tiny_options(demo_data_root)
        ])
    assert str(info.value) == (
        f"--resume: {work_dir}/last_checkpoint names '{work_dir}/iter_4.pth',"
        ' which does not exist; expected the path of the last checkpoint '
        'saved there; resume from another with --resume --cfg-options '
        'load_from=PATH')
    assert sorted(p.name for p in work_dir.iterdir()) == ['last_checkpoint']
