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
with ``backend_args`` are left to their file backend. A dataset that lists
its image directory (no ``ann_file``) must find images there, each with its
label map, as MMSeg's ``BaseSegDataset.load_data_list`` pairs them.

:func:`set_label_classes` gives ``LoadAnnotationsChecked`` its dataset's
number of classes; :func:`resume_checkpoint` finds the checkpoint
``--resume`` loads, and refuses a ``last_checkpoint`` that names no file.

:func:`run_tool` prints these errors, and the package's own errors that name
a bad file or a fault (an unreadable image, a bad label map, a bad
checkpoint, a failed download, a non-finite loss), as one line with exit
status 2.
"""
from __future__ import annotations

import inspect
import os.path as osp
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Optional

__all__ = [
    'InvalidInputError', 'check_checkpoint_path', 'check_config_path',
    'check_dataloaders', 'resume_checkpoint', 'run_tool',
    'set_label_classes'
]

# Printed with a missing dataset root whose name says it is the demo one.
DEMO_HINT = ('generate the demo dataset with '
             '`python tools/misc/make_demo_dataset.py {data_root}`')


class InvalidInputError(ValueError):
    """A file or option given to a tool is missing or malformed; the message
    is one line naming it, what was expected and what was found."""


def input_errors() -> tuple:
    """The errors whose message names the bad input (file or option), or
    the fault that stopped a run."""
    from ..compat import PretrainedDownloadError, UnreadableCheckpointError
    from ..datasets.class_statistics import ClassStatisticsError
    from ..datasets.transforms import (
        InvalidLabelMapError,
        UnreadableImageError,
    )
    from ..engine.hooks import NonFiniteLossError
    from ..engine.runners import CheckpointSaveError
    from .state_dict_check import CheckpointMismatchError
    return (InvalidInputError, UnreadableImageError, InvalidLabelMapError,
            ClassStatisticsError, PretrainedDownloadError,
            UnreadableCheckpointError, CheckpointMismatchError,
            NonFiniteLossError, CheckpointSaveError)


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
    prefixes = dataset.get('data_prefix') or {}
    img_dir = prefixes.get('img_path')
    if not ann_file and isinstance(img_dir, str) and img_dir:
        seg_dir = prefixes.get('seg_map_path')
        _check_pairs(name, dataset, resolve(img_dir),
                     resolve(seg_dir) if isinstance(seg_dir, str) else None)


def _check_pairs(name: str, dataset: Mapping, img_dir: str,
                 seg_dir: Optional[str]) -> None:
    """Images in ``img_dir``, each with its label map in ``seg_dir``, found
    as ``BaseSegDataset.load_data_list`` finds them."""
    if _is_remote(img_dir) or (seg_dir and _is_remote(seg_dir)):
        return
    img_suffix = _dataset_arg(dataset, 'img_suffix')
    seg_suffix = _dataset_arg(dataset, 'seg_map_suffix')
    if not isinstance(img_suffix, str) or not isinstance(seg_suffix, str):
        return  # an unknown dataset type: the Runner will say
    images = sorted(_files(img_dir, img_suffix))
    if not images:
        raise InvalidInputError(
            f'{name}: no images in {osp.abspath(img_dir)} (searched '
            f"'**/*{img_suffix}', the dataset's img_suffix); expected this "
            "split's images there, or set img_suffix or data_prefix with "
            '--cfg-options')
    if not seg_dir:
        return
    missing = [
        image[:-len(img_suffix)] + seg_suffix for image in images
        if not osp.isfile(
            osp.join(seg_dir, image[:-len(img_suffix)] + seg_suffix))
    ]
    if missing:
        raise InvalidInputError(
            f'{name}: {len(missing)} of {len(images)} images in '
            f'{osp.abspath(img_dir)} have no label map in '
            f'{osp.abspath(seg_dir)} (searched '
            f"'<image path without {img_suffix}>{seg_suffix}', e.g. "
            f'{missing[0]}); expected one label map per image')


def _files(directory: str, suffix: str) -> Iterator[str]:
    """Paths relative to ``directory`` of the files ending in ``suffix``,
    in every subdirectory (``mmengine.fileio.list_dir_or_file``)."""
    from mmengine.fileio import list_dir_or_file
    return list_dir_or_file(
        directory, list_dir=False, suffix=suffix, recursive=True)


def _dataset_class(dataset: Mapping) -> Optional[type]:
    """The registered class of a dataset config, if any."""
    from mmseg.registry import DATASETS
    dataset_type = dataset.get('type')
    if isinstance(dataset_type, type):
        return dataset_type
    return DATASETS.get(dataset_type) if isinstance(dataset_type,
                                                    str) else None


def _dataset_arg(dataset: Mapping, arg: str) -> Any:
    """A dataset argument: the config's, else its class's default."""
    if arg in dataset:
        return dataset[arg]
    cls = _dataset_class(dataset)
    for klass in (cls.__mro__ if cls else ()):
        if '__init__' in vars(klass):
            parameter = inspect.signature(
                klass.__init__).parameters.get(arg)
            if parameter is not None and (parameter.default
                                          is not parameter.empty):
                return parameter.default
    return None


def set_label_classes(cfg: Mapping, keys: Sequence[str]) -> None:
    """Give each ``LoadAnnotationsChecked`` without ``num_classes`` its
    dataset's number of classes (``metainfo.classes`` of the config, else
    of the dataset class), so that it checks the label values.

    Args:
        cfg (Mapping): The parsed config; changed in place.
        keys (Sequence[str]): Data loader keys, e.g.
            ``('train_dataloader', )``; absent ones are skipped.
    """
    for key in keys:
        loader = cfg.get(key)
        if not loader or 'dataset' not in loader:
            continue
        for _, dataset in _leaf_datasets(loader['dataset'], key):
            metainfo = dataset.get('metainfo') or {}
            classes = metainfo.get('classes')
            if classes is None:
                cls = _dataset_class(dataset)
                classes = getattr(cls, 'METAINFO', {}).get('classes')
            if not classes:
                continue
            for transform in dataset.get('pipeline') or ():
                if (isinstance(transform, Mapping) and transform.get('type')
                        == 'LoadAnnotationsChecked'
                        and transform.get('num_classes') is None):
                    transform['num_classes'] = len(classes)


def resume_checkpoint(cfg: Mapping, work_dir: str) -> Optional[str]:
    """The checkpoint that ``--resume`` loads: ``load_from``, else the file
    that ``work_dir/last_checkpoint`` names (None without one: training
    starts afresh, as MMEngine does).

    Raises:
        InvalidInputError: If ``last_checkpoint`` is empty or names a
            local file that does not exist.
    """
    if cfg.get('load_from'):
        return cfg['load_from']
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as f:
        last = f.read().strip()
    if not last or not (_is_remote(last) or osp.isfile(last)):
        found = (f'names {last!r}, which does not exist'
                 if last else 'is empty')
        raise InvalidInputError(
            f'--resume: {record} {found}; expected the path of the last '
            'checkpoint saved there; resume from another with --resume '
            '--cfg-options load_from=PATH')
    return last


def _found(path: str) -> str:
    """Describe what is at ``path`` for an error message."""
    if osp.isdir(path):
        return 'a directory'
    return 'a file' if osp.exists(path) else 'nothing'


def _is_remote(path: str) -> bool:
    """Whether ``path`` is a URL such as ``s3://bucket/x`` or ``http://``."""
    return '://' in path
