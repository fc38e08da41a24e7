"""Distributed (DDP) training and testing on CPU with MMEngine's ``Runner``.

MMEngine 0.10.7 distributes over GPUs only, in two places:

- ``mmengine.dist.init_dist`` calls ``torch.cuda.set_device(local_rank)``
  before ``init_process_group``, which fails without CUDA;
- ``Runner.wrap_model`` builds ``MMDistributedDataParallel`` with
  ``device_ids=[LOCAL_RANK]``, and PyTorch's ``DistributedDataParallel``
  rejects any ``device_ids`` for a module on the CPU.

:func:`setup_cpu_distributed` works around both from outside, on a parsed
config, before the ``Runner`` is built: it initialises the process group
itself (``Runner.setup_env`` skips ``init_dist`` when one exists) and sets
``device_ids=None`` in ``model_wrapper_cfg`` (MMEngine passes its own
``device_ids`` as a default, so an explicit ``None`` wins). It does nothing
when the launcher is ``'none'`` or an accelerator is present.
"""
from __future__ import annotations

import datetime
from collections.abc import MutableMapping

import torch.distributed as torch_dist

from .preflight import InvalidInputError

__all__ = ['setup_cpu_distributed']

# Wrappers that subclass DistributedDataParallel and take ``device_ids``.
DDP_WRAPPERS = ('MMDistributedDataParallel', 'DistributedDataParallel')


def setup_cpu_distributed(cfg: MutableMapping) -> bool:
    """Prepare a distributed run on CPU: process group and model wrapper.

    Only the ``pytorch`` launcher (``torchrun``, which sets ``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``) is supported on CPU.
    ``env_cfg.dist_cfg.backend`` is used as given, except that ``'nccl'``
    (MMSeg's default, GPU only) becomes ``'gloo'``.

    Args:
        cfg (MutableMapping): The parsed config (an ``mmengine.Config``),
            with ``cfg.launcher`` set. ``model_wrapper_cfg`` is added or
            updated in place.

    Returns:
        bool: Whether a CPU process group was set up.

    Raises:
        InvalidInputError: For the ``slurm`` or ``mpi`` launcher on CPU.
    """
    from mmengine.device import get_device

    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or get_device() != 'cpu':
        return False
    if launcher != 'pytorch':
        raise InvalidInputError(
            f'--launcher {launcher}: expected --launcher pytorch (torchrun, '
            f'tools/dist_train.sh) on a machine without GPUs; MMEngine '
            f'starts {launcher} jobs on GPUs only')

    if not torch_dist.is_initialized():
        dist_cfg = dict((cfg.get('env_cfg') or {}).get('dist_cfg') or {})
        if dist_cfg.get('backend', 'gloo') == 'nccl':
            dist_cfg['backend'] = 'gloo'  # NCCL needs CUDA
        dist_cfg.setdefault('backend', 'gloo')
        if dist_cfg.get('timeout') is not None:  # seconds, as init_dist
            dist_cfg['timeout'] = datetime.timedelta(
                seconds=dist_cfg['timeout'])
        torch_dist.init_process_group(**dist_cfg)

    wrapper_cfg = cfg.get('model_wrapper_cfg')
    if wrapper_cfg is None:
        cfg['model_wrapper_cfg'] = dict(
            type='MMDistributedDataParallel',
            device_ids=None,  # a CPU module takes no device ids
            broadcast_buffers=False,  # as MMEngine's default wrapper
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    elif wrapper_cfg.get('type', DDP_WRAPPERS[0]) in DDP_WRAPPERS:
        wrapper_cfg['device_ids'] = None
    return True
