"""Compatibility fixes that let MMSeg 1.2.2 run on a current software stack.

:func:`apply_compat` applies four independent fixes. Each one checks for its
problem first and changes nothing where the problem is absent, and calling it
again is a no-op. ``mmseg_ocr_plus/__init__.py`` calls it before anything
imports ``mmseg``, and once more after its own modules have imported MMSeg
(for fix 4); this module itself never imports ``mmseg``.

1. **mmcv-lite has no compiled ops.** MMSeg imports ``mmcv.ops`` at import
   time (``point_sample``, ``sigmoid_focal_loss``, and optionally
   ``CrissCrossAttention`` and ``PSAMask``), and ``mmcv.ops`` needs the
   compiled ``mmcv._ext``, so ``import mmseg.models`` fails on mmcv-lite with
   ``No module named 'mmcv._ext'``. *Active when* ``mmcv._ext`` cannot be
   found and ``mmcv.ops`` is not imported yet: a stand-in ``mmcv.ops`` goes
   into ``sys.modules`` with pure-PyTorch :func:`point_sample`,
   :func:`sigmoid_focal_loss` and :class:`SigmoidFocalLoss` (same semantics as
   mmcv's ops). Every other op fails with :class:`MissingOpError`, which names
   the op and the command that installs full mmcv:
   ``from mmcv.ops import X`` raises it (a ``ModuleNotFoundError``, the error
   that code written for mmcv-lite already catches); ``mmcv.ops.X`` raises
   an ``AttributeError`` with the same message, so ``hasattr`` returns
   ``False``. ``CrissCrossAttention`` and ``PSAMask`` are stand-in classes
   that raise on construction, so building ``CCHead`` or ``PSAHead`` says what
   to install instead of MMSeg's outdated "install mmcv-full".

2. **torch >= 2.6 defaults to** ``torch.load(weights_only=True)``, and
   ``Runner.resume`` in MMEngine 0.10.7 fails with ``Unsupported global:
   mmengine.logging.history_buffer.HistoryBuffer``. *Active when* the
   installed torch loads with ``weights_only=True`` by default (>= 2.6).
   ``CheckpointLoader.load_checkpoint``, which every MMEngine checkpoint load
   goes through (local, http, s3 and user-registered schemes alike), is
   wrapped so that it runs inside ``torch.serialization.safe_globals`` with
   exactly the globals MMEngine checkpoints contain (found with
   ``torch.serialization.get_unsafe_globals_in_checkpoint`` on checkpoints
   saved by real ``Runner`` runs): ``HistoryBuffer``, the numpy array and
   scalar rebuild functions, ``numpy.ndarray``, ``numpy.dtype`` and its
   numeric and bool classes, and ``OneCycleParamScheduler`` (whose state
   holds its annealing function). The load stays ``weights_only``. Wrapping
   this one loader scopes the allowance to MMEngine's checkpoint loading,
   where a process-wide ``add_safe_globals`` would widen every
   ``torch.load`` in the process, and re-registering only the local ``''``
   scheme would leave resuming from http or s3 broken. Pickle stores
   ``HistoryBuffer.mean`` and friends as ``getattr(HistoryBuffer, 'mean')``;
   ``builtins.getattr`` itself is never allowed (it reaches ``__globals__``
   and from there anything). The name ``builtins.getattr`` maps to a guard
   that returns only HistoryBuffer's four statistics methods and
   OneCycleParamScheduler's two annealing functions, and rejects everything
   else. Custom statistics registered with
   ``HistoryBuffer.register_statistics`` are module-level functions and must
   be allowed by their owner.

3. **pkg_resources is gone** from current setuptools, but MMEngine resolves
   ``_base_ = ['mmseg::...']`` with ``is_installed`` and
   ``get_installed_path`` from ``mmengine/utils/package_utils.py``, which
   import it. *Active when* ``pkg_resources`` cannot be found: those
   functions (and ``package2module``) are replaced by ``importlib.metadata``
   and ``importlib.util`` versions in every loaded ``mmengine`` module that
   holds them; modules imported later pick up the replacements from
   ``mmengine.utils``. Configs are parsed before their ``custom_imports``, so
   a script must import ``mmseg_ocr_plus`` before ``Config.fromfile``.

4. **MMSeg 1.2.2's cross-entropy fails with class weights on ignored
   pixels** (open-mmlab/mmsegmentation#3734): with ``class_weight`` and
   ``reduction='mean'`` it averages by ``class_weight[label]`` summed over
   all pixels, and indexing with the ignore index (255) raises
   ``IndexError: index 255 is out of bounds``. So any ``CrossEntropyLoss``
   with ``class_weight`` fails on Cityscapes or ADE20K labels. *Active
   when* ``mmseg.models.losses.cross_entropy_loss`` is imported: its
   ``cross_entropy`` is wrapped by :func:`ignore_safe_cross_entropy`, which
   in that case sums the class weights of the non-ignored pixels only (the
   weighted mean of ``F.cross_entropy(weight=class_weight)``) and otherwise
   is MMSeg's function unchanged. ``CrossEntropyLoss`` reads the module's
   ``cross_entropy`` when it is built, so every loss built afterwards gets
   it, class weights set in a config included; a loss built before
   ``mmseg_ocr_plus`` was imported keeps MMSeg's (``ClassStatisticsHook``
   swaps it on the losses it weights).
"""

from __future__ import annotations

import contextlib
import dis
import functools
import importlib.machinery
import importlib.metadata
import importlib.util
import os.path as osp
import pickle
import sys
import types
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.torch_version import TorchVersion

__all__ = [
    'MissingOpError',
    'SigmoidFocalLoss',
    'apply_compat',
    'get_installed_path',
    'ignore_safe_cross_entropy',
    'is_installed',
    'mmengine_checkpoint_safe_globals',
    'package2module',
    'point_sample',
    'sigmoid_focal_loss',
]

# Set on every object this module installs, so a second call (even from a
# second copy of this module) recognises its own work.
_MARK = '_mmseg_ocr_plus_compat'

MMCV_INSTALL_COMMAND = (
    'MMCV_WITH_OPS=1 pip install --no-build-isolation mmcv==2.1.0'
)


def apply_compat() -> None:
    """Apply the fixes from the module docstring that this environment needs.

    Idempotent; every fix checks its own trigger and is a no-op elsewhere.
    """
    _install_mmcv_ops_stand_in()
    _replace_pkg_resources_helpers()
    _scope_mmengine_checkpoint_globals()
    _fix_weighted_cross_entropy()


def _find_spec(name: str) -> importlib.machinery.ModuleSpec | None:
    """``importlib.util.find_spec`` that answers None for missing parents."""
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


# ---------------------------------------------------------------------------
# (a) mmcv.ops stand-in for mmcv-lite
#
# Shape shorthand: N batch (rows for the focal loss), C channels or classes,
# P points, Hg x Wg a grid of points.
# ---------------------------------------------------------------------------
class MissingOpError(ModuleNotFoundError):
    """An mmcv op that needs the compiled ``mmcv._ext`` was requested."""


def _missing_op_message(op: str) -> str:
    return (
        f'mmcv.ops.{op} needs the compiled mmcv extension (mmcv._ext), '
        'but the installed mmcv is mmcv-lite, which has none. Install '
        f'full mmcv with `{MMCV_INSTALL_COMMAND}` (its setup.py needs a '
        'setuptools that still provides pkg_resources).'
    )


def point_sample(
    input: Tensor, points: Tensor, align_corners: bool = False, **kwargs: Any
) -> Tensor:
    """Sample ``input`` at normalised points, as ``mmcv.ops.point_sample``.

    Args:
        input (Tensor): Feature map, [N, C, H, W].
        points (Tensor): Point coordinates (x, y) in ``[0, 1] x [0, 1]``,
            [N, P, 2] or [N, Hg, Wg, 2].
        align_corners (bool): Passed to :func:`F.grid_sample`: whether 0 and
            1 are the centres (True) or the outer edges (False) of the corner
            pixels. Defaults to False.
        **kwargs: Other :func:`F.grid_sample` arguments (``mode``,
            ``padding_mode``).

    Returns:
        Tensor: [N, C, P] for [N, P, 2] points, else [N, C, Hg, Wg].
    """
    if points.dim() not in (3, 4) or points.size(-1) != 2:
        raise ValueError(
            'Expected points of shape [N, P, 2] or '
            f'[N, Hg, Wg, 2], got {list(points.shape)}'
        )
    grid = points.unsqueeze(2) if points.dim() == 3 else points
    # grid_sample takes coordinates in [-1, 1].
    output = F.grid_sample(
        input, 2.0 * grid - 1.0, align_corners=align_corners, **kwargs
    )
    return output.squeeze(3) if points.dim() == 3 else output


class _SigmoidFocalLossFunction(torch.autograd.Function):
    """Sigmoid focal loss with the forward and backward of mmcv's kernel.

    The backward is written out rather than left to autograd because the
    kernel clamps ``log(p)`` and ``log(1 - p)`` at ``FLT_MIN`` only in the
    loss, not in the gradient: a confident mistake keeps its full gradient.
    """

    @staticmethod
    def _prepare(
        input: Tensor, target: Tensor
    ) -> tuple[Tensor, Tensor, float]:
        """Return the positive mask [N, C], sigmoid [N, C] and log floor."""
        classes = torch.arange(input.size(1), device=input.device)
        # A row whose target is outside [0, C) is negative for every class.
        positive = target[:, None] == classes[None, :]
        return positive, input.sigmoid(), torch.finfo(torch.float32).tiny

    @staticmethod
    def forward(
        ctx: Any,
        input: Tensor,
        target: Tensor,
        gamma: float,
        alpha: float,
        weight: Tensor | None,
        reduction: str,
    ) -> Tensor:
        positive, p, tiny = _SigmoidFocalLossFunction._prepare(input, target)
        loss_pos = -alpha * (1 - p).pow(gamma) * p.clamp(min=tiny).log()
        loss_neg = -(1 - alpha) * p.pow(gamma) * (1 - p).clamp(min=tiny).log()
        loss = torch.where(positive, loss_pos, loss_neg)  # [N, C]
        row_weight = None
        if weight is not None:
            # The kernel weights every class of a row by weight[target].
            row_weight = weight[target][:, None]  # [N, 1]
            loss = loss * row_weight
        ctx.save_for_backward(input, target, row_weight)
        ctx.gamma, ctx.alpha, ctx.reduction = gamma, alpha, reduction
        if reduction == 'mean':
            # mmcv divides by the number of rows, not by N * C.
            return loss.sum() / input.size(0)
        return loss.sum() if reduction == 'sum' else loss

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple:
        input, target, row_weight = ctx.saved_tensors
        gamma, alpha = ctx.gamma, ctx.alpha
        positive, p, tiny = _SigmoidFocalLossFunction._prepare(input, target)
        grad_pos = (
            -alpha
            * (1 - p).pow(gamma)
            * (1 - p - gamma * p * p.clamp(min=tiny).log())
        )
        grad_neg = (
            -(1 - alpha)
            * p.pow(gamma)
            * (gamma * (1 - p) * (1 - p).clamp(min=tiny).log() - p)
        )
        grad_input = torch.where(positive, grad_pos, grad_neg)
        if row_weight is not None:
            grad_input = grad_input * row_weight
        grad_input = grad_input * grad_output
        if ctx.reduction == 'mean':
            grad_input = grad_input / input.size(0)
        return grad_input, None, None, None, None, None


def sigmoid_focal_loss(
    input: Tensor,
    target: Tensor,
    gamma: float = 2.0,
    alpha: float = 0.25,
    weight: Tensor | None = None,
    reduction: str = 'mean',
) -> Tensor:
    """Sigmoid focal loss with the semantics of ``mmcv.ops``' compiled op.

    Per element, with ``p = sigmoid(input)``, the loss is
    ``-alpha * (1 - p)**gamma * log(p)`` where ``c == target[n]`` and
    ``-(1 - alpha) * p**gamma * log(1 - p)`` elsewhere, both logs clamped at
    ``FLT_MIN`` (`Focal Loss <https://arxiv.org/abs/1708.02002>`_).

    Args:
        input (Tensor): Logits, [N, C].
        target (Tensor): Class index per row, int64 [N]. An index outside
            ``[0, C)`` (a background or ignore label) makes every class of
            that row a negative.
        gamma (float): Focusing parameter. Defaults to 2.0.
        alpha (float): Weight of the positive term. Defaults to 0.25.
        weight (Tensor, optional): Per-class weights, [C]. As in mmcv, row
            ``n`` is weighted by ``weight[target[n]]`` for all its classes;
            every target must then be in ``[0, C)`` (mmcv would read out of
            bounds). Defaults to None.
        reduction (str): ``'none'`` ([N, C]), ``'sum'``, or ``'mean'`` (the
            sum divided by N, not by N * C). Defaults to ``'mean'``.

    Returns:
        Tensor: The loss.
    """
    if input.dim() != 2:
        raise ValueError(
            f'Expected input of shape [N, C], got {list(input.shape)}'
        )
    if target.dtype != torch.long:
        raise TypeError(f'Expected an int64 target, got {target.dtype}')
    if target.shape != input.shape[:1]:
        raise ValueError(
            f'Expected target of shape [{input.size(0)}], got '
            f'{list(target.shape)}'
        )
    if reduction not in ('none', 'mean', 'sum'):
        raise ValueError(
            f"Expected reduction 'none', 'mean' or 'sum', got {reduction!r}"
        )
    if weight is not None:
        if weight.shape != input.shape[1:]:
            raise ValueError(
                f'Expected weight of shape [{input.size(1)}], '
                f'got {list(weight.shape)}'
            )
        outside = (target < 0) | (target >= input.size(1))
        if outside.any():
            raise ValueError(
                f'Expected targets in [0, {input.size(1)}) when weight is '
                f'given, got {target[outside].unique().tolist()}'
            )
    return _SigmoidFocalLossFunction.apply(
        input, target, float(gamma), float(alpha), weight, reduction
    )


class SigmoidFocalLoss(nn.Module):
    """Module form of :func:`sigmoid_focal_loss`, as ``mmcv.ops``'.

    Args:
        gamma (float): Focusing parameter.
        alpha (float): Weight of the positive term.
        weight (Tensor, optional): Per-class weights, [C]. Defaults to None.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.
    """

    def __init__(
        self,
        gamma: float,
        alpha: float,
        weight: Tensor | None = None,
        reduction: str = 'mean',
    ) -> None:
        super().__init__()
        self.gamma = gamma
        self.alpha = alpha
        self.register_buffer('weight', weight)
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return sigmoid_focal_loss(
            input, target, self.gamma, self.alpha, self.weight, self.reduction
        )

    def extra_repr(self) -> str:
        return (
            f'gamma={self.gamma}, alpha={self.alpha}, '
            f'reduction={self.reduction!r}'
        )


def _unavailable_op(op: str) -> type:
    """A stand-in class for ``mmcv.ops.<op>`` that raises when built."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise MissingOpError(_missing_op_message(op), name='mmcv._ext')

    return type(
        op,
        (),
        {
            '__init__': __init__,
            '__module__': 'mmcv.ops',
            '__doc__': f'Stand-in for mmcv.ops.{op}: building it raises '
            'MissingOpError.',
        },
    )


_IMPORT_FROM = dis.opmap.get('IMPORT_FROM')


def _mmcv_ops_getattr(name: str) -> Any:
    """Module ``__getattr__`` of the stand-in: every other op is missing."""
    if name.startswith('_'):
        # Dunders probed by the import system, pickle, inspect, mock, ...
        raise AttributeError(f"module 'mmcv.ops' has no attribute {name!r}")
    message = _missing_op_message(name)
    # `hasattr` needs an AttributeError, but a from-import turns one into a
    # bare "cannot import name" that drops the message (and that mmseg's
    # `except ModuleNotFoundError` does not catch). So look at what the
    # caller is executing: IMPORT_FROM means `from mmcv.ops import <name>`.
    try:
        caller = sys._getframe(1)
        in_import = caller.f_code.co_code[caller.f_lasti] == _IMPORT_FROM
    except (AttributeError, IndexError, ValueError):
        in_import = False
    if in_import:
        raise MissingOpError(message, name='mmcv._ext')
    raise AttributeError(message)  # attribute access; hasattr() -> False


def _make_mmcv_ops_stand_in() -> types.ModuleType:
    ops = types.ModuleType(
        'mmcv.ops',
        'Stand-in for mmcv.ops on mmcv-lite, installed by '
        'mmseg_ocr_plus.utils.compat; see that module.',
    )
    ops.__spec__ = importlib.machinery.ModuleSpec('mmcv.ops', None)
    ops.point_sample = point_sample
    ops.sigmoid_focal_loss = sigmoid_focal_loss
    ops.SigmoidFocalLoss = SigmoidFocalLoss
    # MMSeg imports these two inside `try ... except ModuleNotFoundError`.
    ops.CrissCrossAttention = _unavailable_op('CrissCrossAttention')
    ops.PSAMask = _unavailable_op('PSAMask')
    ops.__all__ = [
        'CrissCrossAttention',
        'PSAMask',
        'SigmoidFocalLoss',
        'point_sample',
        'sigmoid_focal_loss',
    ]
    ops.__getattr__ = _mmcv_ops_getattr
    setattr(ops, _MARK, True)
    return ops


def _install_mmcv_ops_stand_in() -> bool:
    """Fix (a). Returns whether the stand-in is in place afterwards."""
    existing = sys.modules.get('mmcv.ops')
    if existing is not None:  # imported already: full mmcv, or our stand-in
        return bool(getattr(existing, _MARK, False))
    if _find_spec('mmcv') is None or _find_spec('mmcv._ext') is not None:
        return False  # no mmcv at all (MMSeg says so), or full mmcv
    import mmcv

    ops = _make_mmcv_ops_stand_in()
    sys.modules['mmcv.ops'] = ops
    mmcv.ops = ops
    return True


# ---------------------------------------------------------------------------
# (b) weights_only loading of MMEngine checkpoints
# ---------------------------------------------------------------------------
@functools.cache
def _pickled_class_attributes() -> dict[type, frozenset[str]]:
    """Class attributes that MMEngine checkpoints pickle as ``getattr``.

    Pickle (protocol 2, as ``torch.save`` uses) stores a function defined in
    a class body as ``getattr(<class>, <name>)``.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.optim.scheduler.param_scheduler import (
        OneCycleParamScheduler,
    )

    return {
        # Every HistoryBuffer state holds the statistics methods registered
        # by HistoryBuffer._set_default_statistics.
        HistoryBuffer: frozenset({'current', 'max', 'mean', 'min'}),
        # OneCycleLR's state holds its annealing function (a staticmethod).
        OneCycleParamScheduler: frozenset(
            {'_annealing_cos', '_annealing_linear'}
        ),
    }


def _guarded_getattr(obj: Any, name: Any) -> Any:
    """``builtins.getattr`` as the unpickler sees it: listed methods only."""
    allowed = _pickled_class_attributes()
    is_listed = isinstance(obj, type) and isinstance(name, str)
    if is_listed and name in allowed.get(obj, ()):
        return getattr(obj, name)
    found = (
        obj.__qualname__
        if isinstance(obj, type)
        else f'<{type(obj).__qualname__} object>'
    )
    expected = '; '.join(
        f'{cls.__qualname__}.{{{", ".join(sorted(names))}}}'
        for cls, names in allowed.items()
    )
    raise pickle.UnpicklingError(
        f'Expected getattr to fetch one of {expected}, got getattr({found}, '
        f'{name!r}); weights_only loading allows no other getattr.'
    )


@functools.cache
def _checkpoint_safe_globals() -> tuple:
    """The globals an MMEngine checkpoint holds, for ``safe_globals``."""
    import numpy as np

    # numpy 2 moved numpy.core to numpy._core; a checkpoint names either.
    reconstruct = np.empty(0).__reduce__()[0]  # ndarray rebuild
    scalar = np.float64(0).__reduce__()[0]  # numpy scalar rebuild
    renamed = [
        (fn, f'{module}.{fn.__name__}')
        for fn in (reconstruct, scalar)
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray')
    ]
    # BUILD on a dtype checks its class: numbers and bool, no object dtype.
    dtype_classes = {type(np.dtype(char)) for char in '?bBhHiIlLqQefd'}
    return (
        *_pickled_class_attributes(),
        (_guarded_getattr, 'builtins.getattr'),
        np.ndarray,
        np.dtype,
        *renamed,
        *sorted(dtype_classes, key=lambda cls: cls.__qualname__),
    )


@contextlib.contextmanager
def mmengine_checkpoint_safe_globals() -> Iterator[None]:
    """Allow MMEngine's checkpoint globals for ``weights_only`` loads.

    Only globals that are not registered yet are added, so leaving the
    context does not remove what the caller had allowed before.
    """
    registered = set(torch.serialization.get_safe_globals())
    extra = [g for g in _checkpoint_safe_globals() if g not in registered]
    with torch.serialization.safe_globals(extra):
        yield


def _torch_load_defaults_to_weights_only() -> bool:
    return TorchVersion(torch.__version__) >= (2, 6)


def _scope_mmengine_checkpoint_globals() -> bool:
    """Fix (b). Returns whether the loader is wrapped afterwards."""
    if (
        _find_spec('mmengine') is None
        or not _torch_load_defaults_to_weights_only()
    ):
        return False
    from mmengine.runner.checkpoint import CheckpointLoader

    load_checkpoint = CheckpointLoader.load_checkpoint.__func__
    if getattr(load_checkpoint, _MARK, False):
        return True

    @functools.wraps(load_checkpoint)
    def wrapped(cls: type, *args: Any, **kwargs: Any) -> Any:
        with mmengine_checkpoint_safe_globals():
            return load_checkpoint(cls, *args, **kwargs)

    setattr(wrapped, _MARK, True)
    CheckpointLoader.load_checkpoint = classmethod(wrapped)
    return True


# ---------------------------------------------------------------------------
# (c) pkg_resources-free package lookups for MMEngine
# ---------------------------------------------------------------------------
def _module_dir(module: str) -> str:
    """Directory of an importable module, as MMEngine's fallback finds it."""
    spec = _find_spec(module)
    if spec is None:
        raise importlib.metadata.PackageNotFoundError(module)
    if spec.origin is None:
        raise RuntimeError(
            f'{module} is a namespace package, which is '
            'invalid for `get_installed_path`'
        )
    return osp.dirname(spec.origin)


def package2module(package: str) -> str:
    """Top-level module of an installed distribution (``top_level.txt``).

    Args:
        package (str): Distribution name, e.g. ``'mmsegmentation'``.

    Returns:
        str: Module name, e.g. ``'mmseg'``.
    """
    dist = importlib.metadata.distribution(package)
    names = (dist.read_text('top_level.txt') or '').split()
    if not names:
        raise ValueError(
            f'can not infer the module name of {package}: '
            'expected a top_level.txt in its metadata'
        )
    return names[0]


def is_installed(package: str) -> bool:
    """Whether a distribution is installed or the module is importable.

    Args:
        package (str): Distribution or module name.

    Returns:
        bool: True if installed.
    """
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        spec = _find_spec(package)
        return spec is not None and spec.origin is not None


def get_installed_path(package: str) -> str:
    """Directory of an installed package, e.g. ``.../site-packages/mmseg``.

    Args:
        package (str): Distribution or module name.

    Returns:
        str: Path of the package's top-level module directory.
    """
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return _module_dir(package)  # importable from PYTHONPATH
    location = str(dist.locate_file(''))
    if osp.exists(osp.join(location, package)):
        return osp.join(location, package)
    module = package2module(package)
    if osp.exists(osp.join(location, module)):
        return osp.join(location, module)
    return _module_dir(module)  # editable installs live elsewhere


def _replace_pkg_resources_helpers() -> bool:
    """Fix (c). Returns whether the replacements are in place afterwards."""
    if (
        _find_spec('pkg_resources') is not None
        or _find_spec('mmengine') is None
    ):
        return False
    from mmengine.utils import package_utils

    replacements = {
        'get_installed_path': get_installed_path,
        'is_installed': is_installed,
        'package2module': package2module,
    }
    for name, replacement in replacements.items():
        original = vars(package_utils)[name]
        if getattr(original, _MARK, False):
            continue
        setattr(replacement, _MARK, True)
        for module_name, module in list(sys.modules.items()):
            in_mmengine = module_name == 'mmengine' or module_name.startswith(
                'mmengine.'
            )
            if (
                in_mmengine
                and getattr(module, '__dict__', {}).get(name) is original
            ):
                setattr(module, name, replacement)
    return True


def ignore_safe_cross_entropy(
    pred: Tensor,
    label: Tensor,
    weight: Tensor | None = None,
    class_weight: Tensor | None = None,
    reduction: str = 'mean',
    avg_factor: Tensor | None = None,
    ignore_index: int = -100,
    avg_non_ignore: bool = False,
) -> Tensor:
    """MMSeg's ``cross_entropy`` (same arguments), which also takes class
    weights with ignored pixels in the label (fix 4 of the module docstring).

    Only where MMSeg's function fails (``class_weight``,
    ``reduction='mean'``, no ``avg_factor`` and an ``ignore_index`` outside
    ``[-K, K)``, so that ``class_weight[label]`` is out of bounds on ignored
    pixels) is the average factor computed here: the class weights summed
    over the pixels that are not ignored, which is what MMSeg computes when
    no pixel is ignored, and PyTorch's weighted mean. Everything else is
    MMSeg's function (``ignore_safe_cross_entropy.__wrapped__``) unchanged.

    Shapes: ``pred`` ``[B, K, H, W]`` logits, ``label`` ``[B, H, W]``,
    ``class_weight`` ``[K]``.
    """
    original = getattr(ignore_safe_cross_entropy, '__wrapped__', None)
    if original is None:  # called before the fix was installed
        import mmseg.models.losses.cross_entropy_loss  # noqa: F401

        _fix_weighted_cross_entropy()
        original = ignore_safe_cross_entropy.__wrapped__
    if (
        class_weight is not None
        and avg_factor is None
        and reduction == 'mean'
        and not -class_weight.numel() <= ignore_index < class_weight.numel()
    ):
        valid = label != ignore_index  # [B, H, W]
        avg_factor = (class_weight[label.where(valid, 0)] * valid).sum()
    return original(
        pred,
        label,
        weight,
        class_weight=class_weight,
        reduction=reduction,
        avg_factor=avg_factor,
        ignore_index=ignore_index,
        avg_non_ignore=avg_non_ignore,
    )


setattr(ignore_safe_cross_entropy, _MARK, True)


def _fix_weighted_cross_entropy() -> bool:
    """Fix (d). Returns whether the fixed function is in place afterwards.

    Every loaded ``mmseg`` module that holds MMSeg's function gets the fixed
    one (``mmseg.models.losses`` and ``mmseg.models`` re-export it).
    """
    module = sys.modules.get('mmseg.models.losses.cross_entropy_loss')
    if module is None:
        return False
    original = module.cross_entropy
    if not getattr(original, _MARK, False):
        ignore_safe_cross_entropy.__wrapped__ = original
    original = ignore_safe_cross_entropy.__wrapped__
    for name, loaded in list(sys.modules.items()):
        if (
            (name == 'mmseg' or name.startswith('mmseg.'))
            and getattr(loaded, '__dict__', {}).get('cross_entropy')
            is original
        ):
            loaded.cross_entropy = ignore_safe_cross_entropy
    return True
