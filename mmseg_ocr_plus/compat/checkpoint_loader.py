"""MMEngine's checkpoint loading on torch >= 2.6, and clear download errors.

Fixes: torch 2.6 made ``torch.load(weights_only=True)`` the default, and
MMEngine cannot resume from its own checkpoints any more (``Unsupported
global: ...HistoryBuffer``, open-mmlab/mmengine#1655). Applies for torch >=
2.6 with MMEngine <= 0.10.7 (the newest); delete it when MMEngine loads its
checkpoints with ``weights_only`` itself.

``CheckpointLoader.load_checkpoint`` (every scheme) is wrapped once to (1)
run in ``torch.serialization.safe_globals`` with exactly the globals MMEngine
checkpoints hold, so loads stay ``weights_only`` and no other ``torch.load``
is widened (``builtins.getattr``, which pickle uses for ``HistoryBuffer.mean``
and which reaches anything, maps to a guard returning only listed methods);
(2) raise :class:`PretrainedDownloadError`, one line naming the checkpoint,
its URL and the ways on, for a failed download of remote weights; (3) raise
:class:`UnreadableCheckpointError` for a file that is truncated or not a
PyTorch checkpoint, and :class:`UnsafeCheckpointError` for one holding a
pickled object that ``weights_only`` loading refuses: one line naming the
file and the reason. PyTorch's own messages advise re-running with
``weights_only=False`` ("will likely succeed"), which would run the pickle;
that advice is dropped, and nothing from the refused file has run.
"""
import contextlib
import functools
import os.path as osp
import pickle
import re
import zipfile
from typing import Any, Dict, FrozenSet, Iterator, Optional

import mmengine
import torch
from mmengine.utils import digit_version

REMOTE_PREFIXES = ('http://', 'https://', 'open-mmlab://', 'openmmlab://',
                   'torchvision://', 'mmcls://')


class PretrainedDownloadError(OSError):
    """A remote checkpoint (pretrained weights) could not be downloaded."""


class UnreadableCheckpointError(ValueError):
    """A checkpoint file is truncated, empty or not a PyTorch checkpoint."""


class UnsafeCheckpointError(UnreadableCheckpointError):
    """A checkpoint holds a pickled object that is not weights or MMEngine
    training state; ``weights_only`` loading refused it before it ran."""


def needs_safe_globals() -> bool:
    """Whether the installed torch and MMEngine need fix 1."""
    return (digit_version(torch.__version__) >= digit_version('2.6.0')
            and digit_version(mmengine.__version__) <= digit_version('0.10.7'))


@functools.cache
def pickled_class_attributes() -> Dict[type, FrozenSet[str]]:
    """Class attributes MMEngine checkpoints pickle as ``getattr``."""
    from mmengine.logging import HistoryBuffer
    from mmengine.optim import OneCycleParamScheduler
    return {  # HistoryBuffer's default statistics; OneCycleLR's annealing
        HistoryBuffer: frozenset({'current', 'max', 'mean', 'min'}),
        OneCycleParamScheduler: frozenset(
            {'_annealing_cos', '_annealing_linear'}),
    }


def guarded_getattr(obj: Any, name: Any) -> Any:
    """``builtins.getattr`` as the unpickler sees it: listed names only."""
    allowed = pickled_class_attributes()
    if (isinstance(obj, type) and isinstance(name, str)
            and name in allowed.get(obj, ())):
        return getattr(obj, name)
    expected = '; '.join(f'{cls.__qualname__}.{{{", ".join(sorted(names))}}}'
                         for cls, names in allowed.items())
    found = getattr(obj, '__qualname__', type(obj).__qualname__)
    raise pickle.UnpicklingError(
        f'Expected getattr to fetch one of {expected}, got getattr({found}, '
        f'{name!r}); checkpoints load no other getattr.')


@functools.cache
def checkpoint_safe_globals() -> tuple:
    """The globals an MMEngine checkpoint holds, for ``safe_globals``."""
    import numpy as np

    # numpy 2 moved numpy.core to numpy._core; a checkpoint names either.
    rebuilds = (np.empty(0).__reduce__()[0], np.float64(0).__reduce__()[0])
    renamed = [(fn, f'{module}.{fn.__name__}') for fn in rebuilds
               for module in ('numpy.core.multiarray',
                              'numpy._core.multiarray')]
    # Numeric and bool dtype classes only: no object arrays.
    dtypes = {type(np.dtype(char)) for char in '?bBhHiIlLqQefd'}
    return (*pickled_class_attributes(), (guarded_getattr, 'builtins.getattr'),
            np.ndarray, np.dtype, *renamed,
            *sorted(dtypes, key=lambda cls: cls.__qualname__))


@contextlib.contextmanager
def mmengine_checkpoint_safe_globals() -> Iterator[None]:
    """Allow MMEngine's checkpoint globals not allowed yet (for loads)."""
    registered = set(torch.serialization.get_safe_globals())
    with torch.serialization.safe_globals(
        [g for g in checkpoint_safe_globals() if g not in registered]):
        yield


def install() -> bool:
    """Wrap ``CheckpointLoader.load_checkpoint`` once; returns True."""
    from mmengine.runner.checkpoint import CheckpointLoader

    load_checkpoint = CheckpointLoader.load_checkpoint.__func__
    if getattr(load_checkpoint, 'installed_by', None) == __name__:
        return True

    @functools.wraps(load_checkpoint)
    def wrapped(cls: type, filename: str, *args: Any, **kwargs: Any) -> Any:
        allow = (mmengine_checkpoint_safe_globals()
                 if needs_safe_globals() else contextlib.nullcontext())
        try:
            with allow:
                return load_checkpoint(cls, filename, *args, **kwargs)
        except pickle.UnpicklingError as err:
            error = (refused_checkpoint(str(filename), err)
                     or unreadable_checkpoint(str(filename), err))
            if error is None:
                raise
        except FileNotFoundError:
            raise  # MMEngine's own message names the file
        except OSError as err:  # URLError, HTTPError, ConnectionError
            if str(filename).startswith(REMOTE_PREFIXES):
                from ..utils.pretrained import download_error_message
                raise PretrainedDownloadError(
                    download_error_message(filename, err)) from err
            error = unreadable_checkpoint(str(filename), err)
            if error is None:
                raise
        except (RuntimeError, EOFError, KeyError, ValueError) as err:
            error = unreadable_checkpoint(str(filename), err)
            if error is None:
                raise
        # Outside the except clause, without the cause: PyTorch's message
        # advises weights_only=False.
        raise error

    wrapped.installed_by = __name__
    CheckpointLoader.load_checkpoint = classmethod(wrapped)
    return True


# How torch.save's format of torch < 1.6 (a pickle) starts.
LEGACY_MAGIC = b'\x80\x02\x8a\x0al\xfc\x9cF\xf9'

# A refused weights_only load names what it refused in one of these forms.
REFUSED_OBJECT_PATTERNS = (
    r'GLOBAL ([\w.]+)',  # a function or class: 'GLOBAL posix.system'
    r"but got <class '([^']+)'>",  # a type: numpy's ObjectDType
    r'(getattr\([^)]*\))',  # guarded_getattr's message
)


def refused_checkpoint(
        filename: str,
        err: pickle.UnpicklingError) -> Optional[UnsafeCheckpointError]:
    """The error for a ``weights_only`` load that refused a pickled object
    (None for any other unpickling error); the message names the file and
    the object, and carries none of PyTorch's advice."""
    message = str(err)
    if 'Weights only load failed' not in message:
        return None
    for pattern in REFUSED_OBJECT_PATTERNS:
        match = re.search(pattern, message)
        if match:
            found = match.group(1)
            break
    else:
        return None  # not an object refused: the file is not a pickle
    return UnsafeCheckpointError(
        f'checkpoint {filename!r}: refused: it holds a pickled {found}, '
        'but a checkpoint may hold only weights and MMEngine training '
        'state; nothing from the file was run')


def unreadable_checkpoint(
        filename: str,
        err: BaseException) -> Optional[UnreadableCheckpointError]:
    """The error for a local file that ``torch.load`` could not read,
    naming the file and what is wrong with it; None when the file is not
    to blame (a zip archive PyTorch can read, e.g. a bad ``map_location``)."""
    if not osp.isfile(filename):
        return None
    size = osp.getsize(filename)
    with open(filename, 'rb') as f:
        head = f.read(8)
    if size == 0:
        reason = 'the file is empty (0 bytes)'
    elif head.startswith(b'PK') and not zipfile.is_zipfile(filename):
        reason = (f'it is truncated: {size} bytes that start like a PyTorch '
                  'checkpoint (a zip archive) but lack its end, as a '
                  'copy or a save cut off leaves it')
    elif zipfile.is_zipfile(filename):
        if 'PytorchStreamReader' not in str(err):
            return None
        reason = ('a zip archive without the layout torch.save writes: '
                  f'{first_sentence(err)}')
    elif head.startswith(LEGACY_MAGIC):
        reason = ('a PyTorch checkpoint in the format of torch < 1.6 that '
                  f'does not unpickle ({type(err).__name__}); it may be '
                  'truncated')
    else:
        reason = (f'not a PyTorch checkpoint: expected a file saved by '
                  f'torch.save, found {size} bytes starting {head!r}')
    return UnreadableCheckpointError(
        f'checkpoint {filename!r}: cannot load it: {reason}')


def first_sentence(err: BaseException) -> str:
    """The first sentence of an error message, on one line."""
    message = ' '.join(str(err).split())
    return message.split('. ')[0].rstrip('.')
