"""Stop training at the first non-finite loss.

A NaN or infinite loss corrupts every weight it updates, and MMEngine
trains on: the next checkpoint holds NaNs and ``last_checkpoint`` points at
it. This hook checks the logged losses after each iteration, before
``CheckpointHook`` saves, and stops the run, so the last checkpoint on disk
is the last good one.
"""
import math
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmseg.registry import HOOKS

__all__ = ['NonFiniteLossError', 'NonFiniteLossHook']


class NonFiniteLossError(FloatingPointError):
    """A training loss is NaN or infinite."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError`, naming the iteration and the loss
    terms, when a loss logged by ``train_step`` is NaN or infinite.

    The losses are the ``outputs`` of ``after_train_iter`` (``loss`` and
    each term, e.g. ``decode.loss_ce``); under DDP they are summed over the
    ranks first (``mmengine.dist.all_reduce``), so every rank stops at the
    same iteration. Priority ``'ABOVE_NORMAL'``: it runs before
    ``CheckpointHook`` (``'VERY_LOW'``) saves the iteration's weights.
    Our configs list it in ``custom_hooks``; ``--cfg-options
    custom_hooks=[]`` turns it off.
    """
    priority = 'ABOVE_NORMAL'

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch: Optional[Sequence[dict]] = None,
                         outputs: Optional[dict] = None) -> None:
        losses = {
            name: value
            for name, value in (outputs or {}).items() if 'loss' in name
        }
        if not losses:
            return
        values = torch.stack([
            torch.as_tensor(value, dtype=torch.float64).detach().cpu()
            for value in losses.values()
        ])  # [num_terms]
        all_reduce(values)  # a no-op outside DDP
        bad = {
            name: value.item()
            for name, value in zip(losses, values)
            if not math.isfinite(value.item())
        }
        if not bad:
            return
        terms = ', '.join(f'{name} = {value}' for name, value in bad.items())
        record = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.isfile(record):
            with open(record) as f:
                kept = f'last_checkpoint is still {f.read().strip()}'
        else:
            kept = 'no checkpoint was saved'
        raise NonFiniteLossError(
            f'iteration {runner.iter + 1}: non-finite loss ({terms}); '
            f'training stopped, {kept}')
