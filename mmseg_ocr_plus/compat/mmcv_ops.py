"""A pure-PyTorch ``mmcv.ops`` for mmcv-lite.

Fixes: ``import mmseg.models`` fails on mmcv-lite (``No module named
'mmcv._ext'``, open-mmlab/mmsegmentation#871, still so in 1.2.2): MMSeg
imports ``point_sample`` and ``sigmoid_focal_loss`` from ``mmcv.ops``, which
needs the compiled extension. Applies while ``mmcv._ext`` cannot be found;
delete it when MMSeg stops importing ``mmcv.ops`` at import time.

Any other op of the stand-in raises :class:`MissingOpError` (a
``ModuleNotFoundError``, which optional imports catch) naming the op and how
to install full mmcv, on import, attribute access and ``hasattr`` alike, and
when an MMSeg head builds ``CrissCrossAttention`` or ``PSAMask``.
"""
import functools
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

MMCV_INSTALL_COMMAND = (
    'MMCV_WITH_OPS=1 pip install --no-build-isolation mmcv==2.1.0')


class MissingOpError(ModuleNotFoundError):
    """An mmcv op that needs the compiled ``mmcv._ext`` was requested."""


def point_sample(input: Tensor, points: Tensor, align_corners: bool = False,
                 **kwargs: Any) -> Tensor:
    """Sample ``input`` ``[N, C, H, W]`` at points (x, y) in ``[0, 1]``,
    ``[N, P, 2]`` or ``[N, Hg, Wg, 2]``, as ``mmcv.ops.point_sample``:
    ``[N, C, P]`` or ``[N, C, Hg, Wg]``. ``align_corners`` and ``kwargs``
    are ``F.grid_sample``'s."""
    if points.dim() not in (3, 4) or points.size(-1) != 2:
        raise ValueError('Expected points of shape [N, P, 2] or '
                         f'[N, Hg, Wg, 2], got {list(points.shape)}')
    grid = points.unsqueeze(2) if points.dim() == 3 else points
    output = F.grid_sample(  # grid_sample takes [-1, 1]
        input, 2 * grid - 1, align_corners=align_corners, **kwargs)
    return output.squeeze(3) if points.dim() == 3 else output


def _clamped_log(prob: Tensor, log_prob: Tensor) -> Tensor:
    """mmcv's ``log(max(prob, FLT_MIN))`` with the exact ``log_prob``'s
    gradient: mmcv clamps the loss but not its gradient."""
    clamped = prob.clamp(min=torch.finfo(torch.float32).tiny).log()
    return log_prob + (clamped - log_prob).detach()


def sigmoid_focal_loss(input: Tensor, target: Tensor, gamma: float = 2.0,
                       alpha: float = 0.25, weight: Optional[Tensor] = None,
                       reduction: str = 'mean') -> Tensor:
    """Sigmoid focal loss (https://arxiv.org/abs/1708.02002) of ``[N, C]``
    logits with the semantics of mmcv's compiled op: a ``target`` ``[N]``
    (int64) outside ``[0, C)`` (background, ignore) makes every class of its
    row negative; ``weight`` ``[C]`` weights row ``n`` by
    ``weight[target[n]]`` (every target must then be in ``[0, C)``);
    ``'mean'`` divides the sum by N; ``'none'`` returns ``[N, C]``."""
    if input.dim() != 2:
        raise ValueError(
            f'Expected input of shape [N, C], got {list(input.shape)}')
    num_rows, num_classes = input.shape
    if target.dtype != torch.long:
        raise TypeError(f'Expected an int64 target, got {target.dtype}')
    if target.shape != (num_rows, ):
        raise ValueError(f'Expected target of shape [{num_rows}], got '
                         f'{list(target.shape)}')
    p = input.sigmoid()
    positive = target[:, None] == torch.arange(num_classes, device=p.device)
    loss = torch.where(
        positive,
        -alpha * (1 - p).pow(gamma) * _clamped_log(p, F.logsigmoid(input)),
        -(1 - alpha) * p.pow(gamma) *
        _clamped_log(1 - p, F.logsigmoid(-input)))  # [N, C]
    if weight is not None:
        if weight.shape != (num_classes, ):
            raise ValueError(f'Expected weight of shape [{num_classes}], got '
                             f'{list(weight.shape)}')
        outside = (target < 0) | (target >= num_classes)
        if outside.any():
            raise ValueError(
                f'Expected targets in [0, {num_classes}) when weight is '
                f'given, got {target[outside].unique().tolist()}')
        loss = loss * weight[target][:, None]
    if reduction == 'mean':
        return loss.sum() / num_rows
    return loss.sum() if reduction == 'sum' else loss


def _missing(op: str, *args: Any, **kwargs: Any) -> Any:
    """The stand-ins' body: raise :class:`MissingOpError` for ``op``."""
    if op.startswith('_'):  # probes of import, pickle, inspect, mock
        raise AttributeError(f"module 'mmcv.ops' has no attribute {op!r}")
    raise MissingOpError(
        f'mmcv.ops.{op} needs the compiled mmcv extension (mmcv._ext), but '
        'the installed mmcv is mmcv-lite, which has none. Install full mmcv '
        f'with `{MMCV_INSTALL_COMMAND}` (its setup.py needs a setuptools '
        'that still provides pkg_resources).', name='mmcv._ext')


def install() -> bool:
    """Put the stand-in in place where it applies; returns whether
    ``mmcv.ops`` is the stand-in afterwards."""
    existing = sys.modules.get('mmcv.ops')
    if existing is not None:  # full mmcv, or the stand-in already
        return getattr(existing, 'point_sample', None) is point_sample
    try:
        if importlib.util.find_spec('mmcv._ext') is not None:
            return False  # full mmcv
    except ModuleNotFoundError:
        return False  # no mmcv at all: MMSeg says so itself
    import mmcv

    ops = types.ModuleType('mmcv.ops', __doc__)
    ops.__spec__ = importlib.machinery.ModuleSpec('mmcv.ops', None)
    ops.point_sample = point_sample
    ops.sigmoid_focal_loss = sigmoid_focal_loss
    for op in ('CrissCrossAttention', 'PSAMask'):  # built by MMSeg heads
        setattr(ops, op, functools.partial(_missing, op))
    ops.__getattr__ = functools.partial(_missing)
    sys.modules['mmcv.ops'] = mmcv.ops = ops
    return True
