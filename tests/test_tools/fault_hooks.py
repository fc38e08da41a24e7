"""Hooks that inject faults into ``tools/train.py`` runs for
``test_reliability.py``: a kill inside an iteration, a kill halfway through
a checkpoint write, and NaN weights.

A test writes a config that inherits the demo config and lists this module
in ``custom_imports``, with the test directory on ``PYTHONPATH``.
"""
import os
import signal
from typing import Optional

import torch
from mmengine.fileio import LocalBackend
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmseg.registry import HOOKS


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class KillDuringIterHook(Hook):
    """SIGKILL inside iteration ``at_iter`` (1-based): its batch is loaded,
    its forward pass and update have not run.

    Args:
        at_iter (int): The iteration to die in.
    """

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_train_iter(self,
                          runner: Runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        if runner.iter + 1 == self.at_iter:
            _die()


@HOOKS.register_module()
class KillDuringSaveHook(Hook):
    """SIGKILL halfway through writing the checkpoint of iteration
    ``at_iter``: half of its bytes reach the disk, like a preempted job or
    a full disk.

    Args:
        at_iter (int): The iteration whose checkpoint is cut off.
    """

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        if checkpoint['meta']['iter'] != self.at_iter:
            return

        def put(backend, obj: bytes, filepath) -> None:
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
                f.flush()
                os.fsync(f.fileno())
            _die()

        LocalBackend.put = put  # this process dies in it


@HOOKS.register_module()
class NaNWeightsHook(Hook):
    """Fill the classifiers (``conv_seg``) with NaN before iteration
    ``at_iter``, so that its losses are NaN.

    Args:
        at_iter (int): The first iteration with NaN losses.
    """

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_train_iter(self,
                          runner: Runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        if runner.iter + 1 != self.at_iter:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        with torch.no_grad():
            for name, param in model.named_parameters():
                if 'conv_seg' in name:
                    param.fill_(float('nan'))
