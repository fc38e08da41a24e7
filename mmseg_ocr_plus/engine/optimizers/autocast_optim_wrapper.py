"""Mixed precision with ``torch.autocast`` and no loss scaling (bf16).

MMEngine's ``AmpOptimWrapper`` asserts that CUDA, NPU, MLU or MUSA is
present, because it scales the loss with ``torch.cuda.amp.GradScaler`` to
keep float16 gradients from underflowing. bfloat16 has float32's exponent
range, so its gradients need no scaling, and ``torch.autocast`` runs it on
the CPU as well: :class:`AutocastOptimWrapper` is that case.
``tools/train.py --amp`` picks it where MMEngine's wrapper cannot run.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Union

import torch
from mmengine.optim import OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS
from torch import nn

__all__ = ['AutocastOptimWrapper']


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """An :class:`~mmengine.optim.OptimWrapper` whose forward pass runs
    under ``torch.autocast``, without loss scaling.

    Inside :meth:`optim_context`, which ``train_step`` wraps around the data
    preprocessor and the forward pass, autocast runs convolutions and
    matrix products in ``dtype``; the parameters, their gradients and the
    optimizer state stay float32, and the backward pass and the update run
    outside the context, as PyTorch recommends. Use it as
    ``optim_wrapper = dict(type='AutocastOptimWrapper', optimizer=...)``.

    Args:
        device_type (str): The ``device_type`` of ``torch.autocast``: the
            device the model runs on. Defaults to ``'cpu'``.
        dtype (str | torch.dtype): The lower precision type. Only bfloat16
            is accepted: float16 needs loss scaling, which MMEngine's
            ``AmpOptimWrapper`` provides. Defaults to ``'bfloat16'``.
        **kwargs: Keyword arguments of ``OptimWrapper`` (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self,
                 device_type: str = 'cpu',
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        cast_dtype = getattr(torch, dtype, None) if isinstance(
            dtype, str) else dtype
        if cast_dtype is not torch.bfloat16:
            raise ValueError(
                f"Expected dtype 'bfloat16', got {dtype!r}: float16 needs "
                "loss scaling, use type='AmpOptimWrapper' (CUDA) for it")
        self.device_type = device_type
        self.cast_dtype = cast_dtype

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Run the forward pass under autocast (and, as ``OptimWrapper``,
        without gradient synchronization while accumulating).

        Args:
            model (nn.Module): The model being trained.
        """
        with super().optim_context(model), torch.autocast(
                device_type=self.device_type, dtype=self.cast_dtype):
            yield
