"""Read an official checkpoint safely; write the converted one atomically.

``torch.load(weights_only=True)`` unpickles tensors and plain containers
only: a pickle that names any other global (``os.system`` in a
``__reduce__``, a model class) is refused before anything runs. The one
addition is a NumPy scalar (NVIDIA saves ``mean_iu`` as ``numpy.float64``):
its reconstructor ``numpy.core.multiarray.scalar`` (``numpy._core`` since
NumPy 2), ``numpy.dtype`` and the float64 dtype class, which build a number
from raw bytes and run nothing else (not NumPy arrays).
"""
import hashlib
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import Dict, Tuple

import numpy as np
import torch
from torch import Tensor

from ..utils.preflight import InvalidInputError

__all__ = [
    'CheckpointFileError', 'read_state_dict', 'save_checkpoint',
    'sha256_of'
]

# Containers of the state dict in the released files: openseg
# ``{config_dict, state_dict}``, NVIDIA ``{epoch, arch, state_dict, ...}``;
# HRNet-OCR saves the bare state dict.
STATE_DICT_KEYS = ('state_dict', 'model')
# What a NumPy scalar in the file needs, under the module names that NumPy
# 1.x (the released files) and 2.x write.
_numpy_scalar = np.float64(0).__reduce__()[0]  # multiarray.scalar
NUMPY_SCALAR_GLOBALS = [
    (_numpy_scalar, 'numpy._core.multiarray.scalar'),
    (_numpy_scalar, 'numpy.core.multiarray.scalar'), np.dtype,
    type(np.dtype('f8'))
]


class CheckpointFileError(InvalidInputError):
    """A checkpoint file cannot be read safely, or written."""


def sha256_of(path: str) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: str) -> Tuple[Dict[str, Tensor], str]:
    """Load a checkpoint's state dict without running pickled code.

    Args:
        path (str): A ``.pth`` file (zip or legacy format).

    Returns:
        tuple[dict[str, Tensor], str]: The state dict as saved (keys with
        their prefixes) and the file's SHA-256.

    Raises:
        CheckpointFileError: If the file is missing, truncated or not a
            PyTorch checkpoint, if its pickle needs anything but tensors and
            plain containers, or if it holds no state dict.
    """
    if not osp.isfile(path):
        raise CheckpointFileError(
            f'{path}: expected an official OCRNet checkpoint file, found '
            f'{"a directory" if osp.isdir(path) else "nothing"}')
    try:
        with torch.serialization.safe_globals(NUMPY_SCALAR_GLOBALS):
            obj = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        match = re.search(
            r"[Uu]nsupported (?:global: )?GLOBAL ([\w.]+)|but got <class '"
            r"([\w.]+)'>", str(err))
        what = (match.group(1) or match.group(2)
                if match else str(err).splitlines()[0])
        raise CheckpointFileError(
            f'{path}: refused to unpickle it: it needs {what}, which a '
            'weights-only load does not allow (a checkpoint holds tensors '
            'and plain containers only); nothing was converted') from None
    except (RuntimeError, EOFError, OSError, ValueError,
            zipfile.BadZipFile) as err:
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise CheckpointFileError(
            f'{path}: not a readable PyTorch checkpoint (truncated or '
            f'corrupt?): {first}') from None
    state_dict = obj
    for key in STATE_DICT_KEYS:
        if isinstance(state_dict, dict) and isinstance(
                state_dict.get(key), dict):
            state_dict = state_dict[key]
            break
    if not (isinstance(state_dict, dict) and state_dict
            and all(isinstance(v, Tensor) for v in state_dict.values())):
        raise CheckpointFileError(
            f'{path}: expected a state dict of tensors (bare or under '
            f'"state_dict"), found {type(obj).__name__} with keys '
            f'{list(obj)[:5] if isinstance(obj, dict) else "none"}')
    return state_dict, sha256_of(path)


def save_checkpoint(checkpoint: dict, path: str) -> None:
    """Write ``checkpoint`` to ``path`` through a temporary file, so that
    ``path`` is either complete or untouched.

    Raises:
        CheckpointFileError: If the directory cannot be made or the file
            cannot be written (e.g. a full disk).
    """
    tmp = f'{path}.part'
    try:
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        torch.save(checkpoint, tmp)
        with open(tmp, 'r+b') as f:
            os.fsync(f.fileno())  # on disk before it takes the name
        os.replace(tmp, path)
    except OSError as err:
        raise CheckpointFileError(
            f'{path}: could not write it ({err.strerror or err})') from None
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
