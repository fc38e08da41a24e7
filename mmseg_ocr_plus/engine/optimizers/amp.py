"""Turn a config's optimizer wrapper into mixed precision for the device."""
from __future__ import annotations

import logging

from mmengine.config import Config
from mmengine.device import get_device
from mmengine.logging import print_log

from ...utils.preflight import InvalidInputError

__all__ = ['enable_amp']

# Where MMEngine's AmpOptimWrapper (float16 + GradScaler) can run.
AMP_DEVICES = ('cuda', 'npu', 'mlu', 'musa')


def enable_amp(cfg: Config) -> None:
    """Switch ``cfg.optim_wrapper`` to mixed precision for the device:
    MMEngine's ``AmpOptimWrapper`` (float16, dynamic loss scale) where it
    runs, :class:`AutocastOptimWrapper` (bfloat16) elsewhere (the CPU).

    Args:
        cfg (Config): The config; ``optim_wrapper`` is changed in place.

    Raises:
        InvalidInputError: If the config's wrapper is not ``OptimWrapper``.
    """
    wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type in ('AmpOptimWrapper', 'AutocastOptimWrapper'):
        print_log(
            f'AMP training is already enabled in your config '
            f'({wrapper_type}).',
            logger='current',
            level=logging.WARNING)
        return
    if wrapper_type != 'OptimWrapper':
        raise InvalidInputError(
            f'--amp: expected optim_wrapper.type OptimWrapper, got '
            f'{wrapper_type}')
    device = get_device()
    if device in AMP_DEVICES:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    else:  # no GradScaler here: bfloat16, which needs no loss scaling
        cfg.optim_wrapper.type = 'AutocastOptimWrapper'
        cfg.optim_wrapper.device_type = device
        cfg.optim_wrapper.dtype = 'bfloat16'
