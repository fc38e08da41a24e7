"""Hooks that the tool tests load into ``tools/train.py`` runs.

A tool test writes a config that inherits the demo config and lists this
module in ``custom_imports``, with the test directory on ``PYTHONPATH``.
"""
import os
import os.path as osp
import signal
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmseg.registry import HOOKS


@HOOKS.register_module()
class KillAfterIterHook(Hook):
    """Kill the process with SIGKILL right after iteration ``at_iter``.

    Registered with ``priority='LOWEST'`` it runs after ``CheckpointHook``
    (``VERY_LOW``), so a checkpoint due at ``at_iter`` is on disk: the run
    then dies like a preempted job, with no cleanup.

    Args:
        at_iter (int): 1-based iteration after which to die.
    """

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if runner.iter + 1 == self.at_iter:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class DumpStateHook(Hook):
    """Save this rank's model state before and after training.

    Writes ``state_rank{rank}_{before,after}.pth`` into the work dir: the
    unwrapped model's ``state_dict`` (parameters and buffers).
    """

    def before_train(self, runner: Runner) -> None:
        self._dump(runner, 'before')

    def after_train(self, runner: Runner) -> None:
        self._dump(runner, 'after')

    @staticmethod
    def _dump(runner: Runner, when: str) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        torch.save(state,
                   osp.join(runner.work_dir,
                            f'state_rank{runner.rank}_{when}.pth'))
