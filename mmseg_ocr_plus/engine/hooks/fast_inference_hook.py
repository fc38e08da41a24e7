"""Test with the fast inference path: ``tools/test.py --fast``.

After the runner has loaded the checkpoint and before the first test batch,
:func:`~mmseg_ocr_plus.deploy.prepare_for_inference` turns the segmentor into
its fast form (BatchNorm folded, dropout removed, channels-last on CPU,
optional bf16/fp16 autocast, optionally compiled). Model wrappers (DDP,
MMSeg's TTA model, the SegFix refinement wrapper) are looked through: the
segmentor inside them is prepared.
"""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmseg.registry import HOOKS
from torch import nn

from ...deploy import prepare_for_inference

__all__ = ['FastInferenceHook']

DTYPES = dict(fp32=None, bf16=torch.bfloat16, fp16=torch.float16)


def innermost_segmentor(model: nn.Module) -> nn.Module:
    """The model inside its wrappers (each keeping it in ``module``)."""
    while isinstance(getattr(model, 'module', None), nn.Module):
        model = model.module
    return model


@HOOKS.register_module()
class FastInferenceHook(Hook):
    """Prepare the segmentor for fast inference before testing.

    Args:
        dtype (str): ``'fp32'``, ``'bf16'`` (CPU) or ``'fp16'`` (CUDA).
            Defaults to ``'bf16'``.
        channels_last (bool, optional): As ``prepare_for_inference``; None
            turns it on for models on the CPU. Defaults to None.
        compile (bool): As ``prepare_for_inference``: ``torch.compile``
            with Inductor's freezing, one compile per input shape. Defaults
            to False.
        keep_freed_memory (bool): As ``prepare_for_inference``: glibc's
            ``malloc`` keeps freed memory in the process (process-wide; CPU
            models only). Defaults to False.
    """
    priority = 'VERY_HIGH'  # before hooks that look at the model

    def __init__(self,
                 dtype: str = 'bf16',
                 channels_last: Optional[bool] = None,
                 compile: bool = False,
                 keep_freed_memory: bool = False) -> None:
        if dtype not in DTYPES:
            raise ValueError(f'FastInferenceHook: expected dtype one of '
                             f'{sorted(DTYPES)}, got {dtype!r}')
        self.dtype = dtype
        self.channels_last = channels_last
        self.compile = compile
        self.keep_freed_memory = keep_freed_memory

    def before_test(self, runner: Runner) -> None:
        model = innermost_segmentor(runner.model)
        prepare_for_inference(model, DTYPES[self.dtype], self.channels_last,
                              self.compile, self.keep_freed_memory)
        wrapper = vars(model).get('_forward')
        channels_last = bool(getattr(wrapper, 'channels_last', False))
        compiled = bool(getattr(wrapper, 'compiled', False))
        runner.logger.info(
            f'FastInferenceHook: {type(model).__name__} prepared for '
            f'inference: BatchNorm folded, dropout removed, {self.dtype}, '
            f'channels_last {channels_last}, compiled {compiled}, '
            f'keep_freed_memory {self.keep_freed_memory}')
