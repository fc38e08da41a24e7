"""Checks that ``tools/train.py`` and ``tools/test.py`` run before anything,
and how the tools report a bad input.

MMEngine's ``Runner`` creates the work directory, its log and its visualizer
folders as soon as it is built, and finds a missing dataset only when the
first batch is loaded, with a traceback from deep inside the data loader.
The checks here run on the parsed config instead, before the ``Runner``
exists: a bad input is reported as one :class:`InvalidInputError` that
names the file or config key, what was expected and what was found, and
nothing has been written yet.

The datasets are checked the way MMEngine's ``BaseDataset`` resolves their
paths: ``ann_file`` and every ``data_prefix`` entry are joined to
``data_root`` unless they are absolute. Wrappers are followed: ``dataset``
(``RepeatDataset``, ``ClassBalancedDataset``, ``MultiImageMixDataset``) and
``datasets`` (``ConcatDataset``). Remote paths (``s3://...``) and datasets
with ``backend_args`` are left to their file backend.

:func:`run_tool` prints these errors, and the package's own errors that name
a bad file (an unreadable image, a bad label map, a failed download), as one
line with exit status 2.
"""
from __future__ import annotations

import os.path as osp
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    'InvalidInputError', 'check_checkpoint_path', 'check_config_path',
    'check_dataloaders', 'run_tool'
]

# Printed with a missing dataset root whose name says it is the demo one.
DEMO_HINT = ('generate the demo dataset with '
             '`python tools/misc/make_demo_dataset.py {data_root}`')


class InvalidInputError(ValueError):
    """A file or option given to a tool is missing or malformed; the message
    is one line naming it, what was expected and what was found."""


def input_errors() -> tuple:
    """The errors whose message names the bad input (file or option)."""
    from ..compat import PretrainedDownloadError
    from ..datasets.class_statistics import ClassStatisticsError
    from ..datasets.transforms import UnreadableImageError
    return (InvalidInputError, UnreadableImageError, ClassStatisticsError,
            PretrainedDownloadError)


def one_line(error: BaseException) -> str:
    """The error's message; for one re-raised from a ``DataLoader`` worker
    (``type(err)(msg)``, ``msg`` holding the worker's whole traceback), the
    original message, from the last line of that traceback."""
    message = str(error)
    if message.startswith('Caught ') and 'Original Traceback' in message:
        # The last line is '<module>.<ErrorClass>: <original message>'.
        last_line = message.rstrip().splitlines()[-1]
        _, sep, original = last_line.partition(': ')
        message = original if sep else last_line
    return message


def run_tool(main: Callable[[], Any]) -> int:
    """Run a tool's ``main``; a bad input becomes one line on stderr.

    Args:
        main (Callable): The tool's entry point, called without arguments.

    Returns:
        int: The exit status: 0, or 2 for a bad input (the errors of
        :func:`input_errors`); other errors propagate with their traceback.
    """
    try:
        main()
    except input_errors() as err:
        print(f'{osp.basename(sys.argv[0])}: error: {one_line(err)}',
              file=sys.stderr)
        return 2
    return 0


def check_config_path(path: str) -> None:
    """Check that a config file exists.

    Args:
        path (str): The config path given on the command line.

    Raises:
        InvalidInputError: If ``path`` is not an existing file.
    """
    if not osp.isfile(path):
        found = 'a directory' if osp.isdir(path) else 'nothing'
        raise InvalidInputError(
            f'config {path!r}: expected a config file (.py, .json or .yaml), '
            f'found {found} at {osp.abspath(path)}')


def check_checkpoint_path(path: str) -> None:
    """Check that a local checkpoint file exists; URLs are not checked.

    Args:
        path (str): The checkpoint path given on the command line.

    Raises:
        InvalidInputError: If a local ``path`` is not an existing file.
    """
    if _is_remote(path) or osp.isfile(path):
        return
    found = 'a directory' if osp.isdir(path) else 'nothing'
    raise InvalidInputError(
        f'checkpoint {path!r}: expected a checkpoint file (.pth) saved by '
        f'tools/train.py, found {found} at {osp.abspath(path)}')


def check_dataloaders(cfg: Mapping, keys: Sequence[str]) -> None:
    """Check that the files the datasets of some data loaders read exist.

    Args:
        cfg (Mapping): The parsed config (an ``mmengine.Config``).
        keys (Sequence[str]): Data loader keys to check, e.g.
            ``('train_dataloader', 'val_dataloader')``. Keys that are absent
            or ``None`` in ``cfg`` are skipped.

    Raises:
        InvalidInputError: For the first missing ``data_root``, data prefix
            directory or annotation file, naming its config key.
    """
    for key in keys:
        loader = cfg.get(key)
        if not loader or 'dataset' not in loader:
            continue
        for name, dataset in _leaf_datasets(loader['dataset'],
                                            f'{key}.dataset'):
            _check_dataset(name, dataset)


def _leaf_datasets(dataset: Any, name: str) -> Iterator[tuple[str, Mapping]]:
    """Yield ``(config key, config)`` of the datasets a wrapper holds."""
    if not isinstance(dataset, Mapping):
        return  # an already built dataset: nothing to check
    if isinstance(dataset.get('dataset'), Mapping):
        yield from _leaf_datasets(dataset['dataset'], f'{name}.dataset')
    elif isinstance(dataset.get('datasets'), Sequence):
        for i, member in enumerate(dataset['datasets']):
            yield from _leaf_datasets(member, f'{name}.datasets[{i}]')
    else:
        yield name, dataset


def _check_dataset(name: str, dataset: Mapping) -> None:
    """Check one dataset config's ``data_root``, prefixes and ann file."""
    if dataset.get('backend_args'):
        return  # paths are the file backend's business
    data_root = dataset.get('data_root') or ''
    if data_root and not _is_remote(data_root) and not osp.isdir(data_root):
        if 'demo' in osp.basename(osp.normpath(data_root)):
            hint = DEMO_HINT.format(data_root=data_root)
        else:
            hint = 'download or convert the dataset'
        raise InvalidInputError(
            f'{name}.data_root {data_root!r}: expected the dataset '
            f'directory, found {_found(data_root)} at '
            f'{osp.abspath(data_root)}; {hint} or point data_root at it '
            'with --cfg-options')

    def resolve(path: str) -> str:
        if _is_remote(path) or osp.isabs(path) or not data_root:
            return path
        return osp.join(data_root, path)

    for field, prefix in (dataset.get('data_prefix') or {}).items():
        if not isinstance(prefix, str) or _is_remote(resolve(prefix)):
            continue
        path = resolve(prefix)
        if path and not osp.isdir(path):
            raise InvalidInputError(
                f'{name}.data_prefix.{field} {prefix!r}: expected a '
                f'directory of {field.replace("_path", "")} files, found '
                f'{_found(path)} at {osp.abspath(path)}')
    ann_file = dataset.get('ann_file') or ''
    if ann_file and not _is_remote(resolve(ann_file)):
        path = resolve(ann_file)
        if not osp.isfile(path):
            raise InvalidInputError(
                f'{name}.ann_file {ann_file!r}: expected an annotation '
                f'file, found {_found(path)} at {osp.abspath(path)}')


def _found(path: str) -> str:
    """Describe what is at ``path`` for an error message."""
    if osp.isdir(path):
        return 'a directory'
    return 'a file' if osp.exists(path) else 'nothing'


def _is_remote(path: str) -> bool:
    """Whether ``path`` is a URL such as ``s3://bucket/x`` or ``http://``."""
    return '://' in path
