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
its URL and the ways on, for a failed download of remote weights.
"""
import contextlib
import functools
import pickle
from typing import Any, Dict, FrozenSet, Iterator

import mmengine
import torch
from mmengine.utils import digit_version

REMOTE_PREFIXES = ('http://', 'https://', 'open-mmlab://', 'openmmlab://',
                   'torchvision://', 'mmcls://')


class PretrainedDownloadError(OSError):
    """A remote checkpoint (pretrained weights) could not be downloaded."""


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
        f'{name!r}); weights_only loading allows no other getattr.')


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
        except OSError as err:  # URLError, HTTPError, ConnectionError
            if not str(filename).startswith(REMOTE_PREFIXES):
                raise
            from ..utils.pretrained import download_error_message
            raise PretrainedDownloadError(
                download_error_message(filename, err)) from err

    wrapped.installed_by = __name__
    CheckpointLoader.load_checkpoint = classmethod(wrapped)
    return True
