"""Checkpoints for the benchmark: where each comes from, its sha256, and a
check that it fits the config's model before it is loaded.

A checkpoint is given as a local file, a directory holding files named as
the zoo names them (the last part of the ``Weights`` URL) or as the model
(``<name>.pth``), or a URL, downloaded once into ``torch.hub``'s cache as
MMEngine does. Failures are one-line errors:
:class:`CheckpointUnavailableError` (naming the URL and how to pass a local
file) and ``state_dict_check.CheckpointMismatchError`` (e.g. another number
of classes; MMEngine itself only warns and evaluates a half-loaded model).
"""
import os.path as osp
import re
from pathlib import Path
from typing import Optional, Tuple

import torch

from ...converters.checkpoint_file import sha256_of as sha256sum
from ..state_dict_check import (
    CheckpointMismatchError,
    check_state_dict,
    load_weights,
)

__all__ = [
    'CheckpointMismatchError', 'CheckpointUnavailableError',
    'check_state_dict', 'load_weights', 'resolve_checkpoint', 'sha256sum',
    'zoo_hash_prefix'
]


class CheckpointUnavailableError(FileNotFoundError):
    """A checkpoint is neither on disk nor downloadable; one line."""


def _is_url(path: str) -> bool:
    return path.startswith(('http://', 'https://'))


def _file_name(url: str) -> str:
    return osp.basename(url.split('?')[0])


def download(url: str, name: str) -> Path:
    """The file of ``url`` in ``torch.hub``'s cache, downloaded if absent.

    Raises:
        CheckpointUnavailableError: If the download fails.
    """
    file_name = _file_name(url)
    cached = Path(torch.hub.get_dir()) / 'checkpoints' / file_name
    if cached.is_file():
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(cached), progress=True)
    except (OSError, ValueError) as err:  # URLError, HTTPError, bad URL
        reason = getattr(err, 'reason', None) or err
        raise CheckpointUnavailableError(
            f'{name}: checkpoint {url} could not be downloaded ({reason}); '
            'download it where the network allows and pass the file with '
            f'--checkpoints /path/to/{file_name}, or a directory holding '
            f'{file_name}') from err
    return cached


def resolve_checkpoint(name: str, given: Optional[str],
                       weights: Optional[str]) -> Tuple[Path, str]:
    """The local checkpoint file of one model.

    Args:
        name (str): The model (or config) name, for messages and for
            ``<name>.pth`` in a directory.
        given (str, optional): ``--checkpoints`` entry: a file, a directory
            or a URL; None to use ``weights``.
        weights (str, optional): The metafile's ``Weights`` (URL or path).

    Returns:
        tuple[Path, str]: An existing file, and where it came from (the
        URL it was downloaded from, else the file).

    Raises:
        CheckpointUnavailableError: If nothing is found or downloaded.
    """
    if given and _is_url(given):
        return download(given, name), given
    if given and osp.isfile(given):
        return Path(given), given
    if given and osp.isdir(given):
        names = [_file_name(weights)] if weights else []
        names.append(f'{name}.pth')
        for file_name in names:
            path = Path(given) / file_name
            if path.is_file():
                return path, str(path)
        if not (weights and _is_url(weights)):
            raise CheckpointUnavailableError(
                f'{name}: expected {" or ".join(names)} in {given}, found '
                'neither')
    elif given:
        raise CheckpointUnavailableError(
            f'{name}: checkpoint {given!r}: expected a file, a directory or '
            f'a URL, found nothing at {osp.abspath(given)}')
    if weights and _is_url(weights):
        return download(weights, name), weights
    if weights and osp.isfile(weights):
        return Path(weights), weights
    raise CheckpointUnavailableError(
        f'{name}: no checkpoint: the metafile names '
        f'{weights or "no Weights"}; pass one with --checkpoints')


def zoo_hash_prefix(path: str) -> Optional[str]:
    """The hash prefix in a zoo file name (``..._20230227-6c052a14.pth``),
    which ``torch.hub`` checks against the SHA-256."""
    found = re.search(r'-([0-9a-f]{8,})\.pth$', osp.basename(path))
    return found.group(1) if found else None
