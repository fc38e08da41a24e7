"""Fixtures for the ``tools/`` tests: a tiny demo dataset, the demo config
shrunk with ``--cfg-options``, and the tools run as subprocesses.

The tools run as real subprocesses, as a user runs them, with one OpenMP
thread each (the runs are tiny; more threads only contend). Sizes: 8 train
and 4 val images of 64x128, crops of 64x64, batches of 2. A tool spends
most of its time starting (imports, config formatting) on one core, so the
test modules start the runs they check together, and two cores overlap
them.
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, List, Optional, Set

import pytest
from demo_scenes import generate_demo_dataset
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / 'configs/demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'  # noqa: E501
TOOL_TIMEOUT = 600  # seconds; a hung DDP run must not hang the suite


@pytest.fixture(scope='session')
def demo_config() -> Path:
    """The demo config that the tool tests shrink."""
    return DEMO_CONFIG


@pytest.fixture(scope='session')
def demo_data_root(tmp_path_factory) -> Path:
    """A Cityscapes-format demo dataset: 8 train, 4 val images of 64x128."""
    root = tmp_path_factory.mktemp('data') / 'demo_cityscapes'
    generate_demo_dataset(root, num_train=8, num_val=4, size=(64, 128))
    return root


def _index_of(pipeline: List[dict], type_name: str) -> int:
    """Index of the first transform whose type starts with ``type_name``
    (so that ``LoadImageFromFile`` finds ``LoadImageFromFileChecked``)."""
    for i, transform in enumerate(pipeline):
        if transform['type'].startswith(type_name):
            return i
    raise AssertionError(f'Expected a {type_name} transform in {pipeline}')


@pytest.fixture(scope='session')
def tiny_options() -> Callable[..., List[str]]:
    """Build ``--cfg-options`` that shrink the demo config.

    The returned function takes the data root and overrides (``key=value``
    as ``--cfg-options`` takes them, as keyword arguments) and returns the
    ``key=value`` strings. Pipeline indices are looked up in the demo
    config, so they follow its pipelines. The loaders are switched to the
    checked ones (a no-op where the config uses them already).
    """
    cfg = Config.fromfile(DEMO_CONFIG)
    train = cfg.train_dataloader.dataset.pipeline
    test = cfg.test_dataloader.dataset.pipeline

    def build(data_root: Path, **overrides: object) -> List[str]:
        options: Dict[str, object] = {
            f'train_dataloader.dataset.pipeline.'
            f'{_index_of(train, "RandomResize")}.scale': '(128,64)',
            f'train_dataloader.dataset.pipeline.'
            f'{_index_of(train, "RandomCrop")}.crop_size': '(64,64)',
            'model.data_preprocessor.size': '(64,64)',
            'train_dataloader.batch_size': 2,
            'train_cfg.max_iters': 6,
            'train_cfg.val_begin': 1000,  # no validation, not even at the end
            'default_hooks.checkpoint.interval': 3,
            'default_hooks.logger.interval': 1,
            'env_cfg.dist_cfg.backend': 'gloo',
        }
        for split, pipeline in (('train', train), ('val', test),
                                ('test', test)):
            prefix = f'{split}_dataloader.dataset.pipeline'
            options[f'{prefix}.{_index_of(pipeline, "LoadImageFromFile")}'
                    '.type'] = 'LoadImageFromFileChecked'
            options[f'{prefix}.{_index_of(pipeline, "LoadAnnotations")}'
                    '.type'] = 'LoadAnnotationsChecked'
            if split != 'train':
                options[f'{prefix}.{_index_of(pipeline, "Resize")}.scale'] = (
                    '(128,64)')
            options[f'{split}_dataloader.dataset.data_root'] = data_root
            options[f'{split}_dataloader.num_workers'] = 0
            options[f'{split}_dataloader.persistent_workers'] = False
            # No pickling into one buffer (and gc.collect) for 12 images.
            options[f'{split}_dataloader.dataset.serialize_data'] = False
        options.update(overrides)
        return [f'{key}={value}' for key, value in options.items()]

    return build


@pytest.fixture(scope='session')
def selected_tests(request) -> Set[str]:
    """Names of the test functions this session runs (after ``-k``/``-m``),
    so that a module starts only the runs its selected tests check."""
    return {item.originalname for item in request.session.items}


@pytest.fixture(scope='session')
def tool_env() -> Dict[str, str]:
    """Environment of a tool subprocess."""
    env = dict(os.environ)
    # The repo for mmseg_ocr_plus, this directory for tool_test_hooks.
    env['PYTHONPATH'] = os.pathsep.join(
        [str(REPO), str(Path(__file__).parent),
         env.get('PYTHONPATH', '')])
    env['OMP_NUM_THREADS'] = '1'
    env['PYTHONWARNINGS'] = 'ignore'
    env['PYTHON'] = sys.executable  # for the tools/*.sh scripts
    return env


@pytest.fixture(scope='session')
def start_tool(tool_env) -> Callable[..., subprocess.Popen]:
    """Start a tool in the repo root: ``start('train', *args)`` runs
    ``python tools/train.py args...``, ``start('dist_train.sh', *args)``
    runs ``bash tools/dist_train.sh args...``; ``env`` adds variables.
    :func:`finish` waits for it."""

    def start(tool: str,
              *args: object,
              env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
        if tool.endswith('.sh'):
            command = ['bash', f'tools/{tool}']
        else:
            command = [sys.executable, f'tools/{tool}.py']
        # Files, not pipes: a full pipe would stall a tool nobody reads yet.
        stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        proc = subprocess.Popen(
            command + [str(a) for a in args],
            cwd=REPO,
            env={
                **tool_env,
                **(env or {})
            },
            stdout=stdout,
            stderr=stderr)
        proc.output_files = (stdout, stderr)
        return proc

    return start


def finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    """Wait for a tool started by ``start_tool`` and collect its output."""
    try:
        proc.wait(timeout=TOOL_TIMEOUT)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        timed_out = True
    stdout, stderr = (_read(file) for file in proc.output_files)
    if timed_out:
        pytest.fail(f'{proc.args} ran over {TOOL_TIMEOUT} s; its stdout '
                    f'ends:\n{stdout[-3000:]}\nstderr:\n{stderr[-3000:]}')
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout,
                                       stderr)


def _read(file) -> str:
    """Read and close a ``TemporaryFile`` that a tool wrote."""
    with file:
        file.seek(0)
        return file.read().decode(errors='replace')


@pytest.fixture(scope='session')
def finish_tool() -> Callable[[subprocess.Popen],
                              subprocess.CompletedProcess]:
    """See :func:`finish`."""
    return finish


@pytest.fixture(scope='session')
def load_tool() -> Callable[[str], ModuleType]:
    """Import ``tools/<name>.py`` as a module, to call its ``main(argv)``
    in this process (for failures that happen before any ``Runner``)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(
            f'tools_{name}', REPO / 'tools' / f'{name}.py')
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


def train_scalars(work_dir: Path) -> List[dict]:
    """The per-iteration training scalars of every run in ``work_dir``.

    Reads each run's ``<timestamp>/vis_data/scalars.json`` (MMEngine's
    ``LocalVisBackend``), oldest run first, keeping training iterations.
    """
    records = []
    for path in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if 'lr' in record:
                records.append(record)
    return records


@pytest.fixture(scope='session')
def read_train_scalars() -> Callable[[Path], List[dict]]:
    """See :func:`train_scalars`."""
    return train_scalars


def hook_config(path: Path, custom_hooks: List[dict]) -> Path:
    """Write a config that inherits the demo config and adds test hooks.

    Args:
        path (Path): Where to write it.
        custom_hooks (list[dict]): Hooks from ``tool_test_hooks``.

    Returns:
        Path: ``path``.
    """
    path.write_text(
        f'_base_ = [{str(DEMO_CONFIG)!r}]\n'
        "custom_imports = dict(imports=['mmseg_ocr_plus', "
        "'tool_test_hooks'], allow_failed_imports=False)\n"
        f'custom_hooks = {custom_hooks!r}\n')
    return path


@pytest.fixture(scope='session')
def write_hook_config() -> Callable[[Path, List[dict]], Path]:
    """See :func:`hook_config`."""
    return hook_config


@pytest.fixture(scope='session')
def reference_and_killed_runs(tmp_path_factory, demo_data_root,
                              tiny_options, start_tool) -> dict:
    """Two 6-iteration trainings (checkpoints at 3 and 6), started together.

    ``reference`` runs through. ``killed`` is SIGKILLed by its
    ``KillAfterIterHook`` right after its checkpoint at iteration 3, like a
    preempted job; ``killed_files`` lists its work dir at that point.

    Returns:
        dict: The ``reference`` and ``killed`` work dirs, their
        ``CompletedProcess`` as ``reference_result`` and ``killed_result``,
        and ``killed_files``.
    """
    root = tmp_path_factory.mktemp('resume')
    killing = hook_config(
        root / 'killed_at_3.py',
        [dict(type='KillAfterIterHook', at_iter=3, priority='LOWEST')])
    options = tiny_options(demo_data_root)
    reference = start_tool('train', DEMO_CONFIG, '--work-dir',
                           root / 'reference', '--cfg-options', *options)
    killed = start_tool('train', killing, '--work-dir', root / 'killed',
                        '--cfg-options', *options)
    runs = dict(
        reference=root / 'reference',
        killed=root / 'killed',
        reference_result=finish(reference),
        killed_result=finish(killed))
    runs['killed_files'] = {
        path.name: path.read_text() if path.name == 'last_checkpoint' else ''
        for path in runs['killed'].iterdir() if path.is_file()
    }
    return runs
