"""One call that turns a trained segmentor into its fast inference form.

Opt-in: a model that never passes through :func:`prepare_for_inference`
runs the default path, bit for bit.
"""
from typing import Optional

import torch
from torch import nn

from .compiled_call import compile_unavailable_reason
from .entry_points import wrap_entry_points
from .fold_batchnorm import fold_batchnorm
from .freed_memory import keep_freed_memory as keep_memory

__all__ = [
    'cast_weights', 'enable_lowres_convs', 'prepare_for_inference',
    'remove_dropout'
]

AUTOCAST_DTYPES = (torch.bfloat16, torch.float16)
CAST_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
            nn.AlphaDropout, nn.FeatureAlphaDropout)


def remove_dropout(model: nn.Module) -> int:
    """Replace every dropout layer by ``nn.Identity`` (a no-op in eval).

    Args:
        model (nn.Module): Changed in place.

    Returns:
        int: The number of layers replaced.
    """
    found = [(parent, name) for parent in model.modules()
             for name, child in parent.named_children()
             if isinstance(child, DROPOUTS)]
    for parent, name in found:
        setattr(parent, name, nn.Identity())
    return len(found)


def cast_weights(model: nn.Module, dtype: torch.dtype) -> int:
    """Store the weights of every conv and linear layer in ``dtype``.

    Under autocast these layers compute in ``dtype`` anyway; stored so,
    their weights are not cast again on every call (HRNet-W18 OCRNet,
    1x3x512x1024 bf16 on 2 cores: 0.50 s against 0.55 s). Norm layers and
    the data preprocessor's mean and std keep their dtype.

    Args:
        model (nn.Module): Changed in place.
        dtype (torch.dtype): The autocast dtype.

    Returns:
        int: The number of layers cast.
    """
    layers = [m for m in model.modules() if isinstance(m, CAST_LAYERS)]
    for layer in layers:
        layer.to(dtype)
    return len(layers)


def enable_lowres_convs(model: nn.Module) -> int:
    """Turn on ``SoftRegionHead.lowres_conv`` and
    ``OCRPlusHead.lowres_bottleneck`` wherever the head's inputs allow it
    (``resize_concat``, a plain conv): the same function with fewer
    multiply-adds, used in fp32 on the CPU only. Returns how many were
    turned on."""
    from ..models.decode_heads import OCRPlusHead, SoftRegionHead
    from ..models.utils import check_lowres_option
    count = 0
    for m in model.modules():
        if isinstance(m, SoftRegionHead) and m.num_convs >= 1:
            option, module = 'lowres_conv', m.convs[0]
        elif isinstance(m, OCRPlusHead):
            option, module = 'lowres_bottleneck', m.bottleneck
        else:
            continue
        try:
            check_lowres_option(m, module, option)
        except ValueError:
            continue
        count += not getattr(m, option)
        setattr(m, option, True)
    return count


def prepare_for_inference(model: nn.Module,
                          dtype: Optional[torch.dtype] = None,
                          channels_last: Optional[bool] = None,
                          compile: bool = False,
                          keep_freed_memory: bool = False) -> nn.Module:
    """Eval mode, BatchNorm folded, dropout removed, channels-last, optional
    autocast, and in fp32 the low-resolution convs of HRNet heads
    (:func:`enable_lowres_convs`); optionally compiled, optionally with
    freed memory kept in the process.

    After it, ``model._forward(inputs)`` and ``model.predict(inputs,
    data_samples)`` run the fast path. With a ``dtype``, the model is
    meant for these entry points (and ``test_step``, which calls
    ``predict``): its conv weights are stored in ``dtype``, so calling its
    submodules directly needs ``torch.autocast``. Preparing it again in
    fp32 stores them in fp32 (rounded to ``dtype`` once). fp32 logits stay
    within about 1e-5 of the unfolded model's (the folded weights round
    differently).

    Args:
        model (nn.Module): A segmentor; changed in place (no training after
            this: the BatchNorm layers are gone).
        dtype (torch.dtype, optional): ``torch.bfloat16`` (CPU) or
            ``torch.float16`` (CUDA) to run ``_forward`` and
            ``encode_decode`` under ``torch.autocast`` with fp32 outputs,
            conv and linear weights stored in it (:func:`cast_weights`);
            ``None`` or ``torch.float32`` for fp32. Defaults to None.
        channels_last (bool, optional): Weights and activations in
            channels-last memory format. None: on where the model's
            parameters are on the CPU, where it was measured to pay (HRNet-W18
            OCRNet, 1x3x512x1024, 2 cores: 1.53 s against 2.26 s in fp32,
            0.83 s against 1.46 s in bf16), off elsewhere. Defaults to None.
        compile (bool): Also run the entry points through ``torch.compile``
            with Inductor's ``freezing``, which fuses the convs with the
            ReLUs and additions around them: it pays in bf16 on the CPU
            (HRNet-W18 OCRNet, 1x3x512x1024, 2 cores: 0.231 s against
            0.385 s eager, after a compile of about a minute), not in fp32
            (0.92 against 0.89 s in a throwaway script: the low-resolution
            convs break the graph).
            The compiled entry points run without gradients; each new input
            shape compiles again, up to Dynamo's recompile limit (then
            eager). Needs a C++ compiler on the CPU, Triton and a C compiler
            on CUDA (see :mod:`~.compiled_call`). Defaults to False.
        keep_freed_memory (bool): For a model on the CPU, make glibc's
            ``malloc`` keep freed memory for reuse instead of returning it
            (:func:`~.freed_memory.keep_freed_memory`): process-wide, so off
            by default; the process then keeps its peak memory. It pays
            where each call allocates tensors of 32 MiB or more (HRNet-W18
            OCRNet, 1x3x512x1024 bf16 compiled, 2 cores: 191 ms against
            214 ms). Ignored for models on other devices and with other C
            libraries. Defaults to False.

    Returns:
        nn.Module: ``model``.

    Raises:
        ValueError: For another ``dtype``.
        RuntimeError: With ``compile``, where ``torch.compile`` cannot build
            code for the model's device (the message says what is missing).
    """
    if dtype is not None and dtype != torch.float32 and (
            dtype not in AUTOCAST_DTYPES):
        raise ValueError('Expected dtype None, torch.float32, torch.bfloat16 '
                         f'or torch.float16, got {dtype}')
    param = next(model.parameters(), None)
    device_type = param.device.type if param is not None else 'cpu'
    if compile:
        reason = compile_unavailable_reason(device_type)
        if reason:
            raise RuntimeError(f'prepare_for_inference(compile=True): '
                               f'{reason}')
    if channels_last is None:
        channels_last = device_type == 'cpu'
    if keep_freed_memory and device_type == 'cpu':
        keep_memory()
    model.eval()
    fold_batchnorm(model)
    remove_dropout(model)
    enable_lowres_convs(model)  # bf16/fp16 convs keep the direct conv
    if channels_last:
        model.to(memory_format=torch.channels_last)
    autocast = dtype if dtype in AUTOCAST_DTYPES else None
    if autocast is not None:
        cast_weights(model, autocast)
    elif any(m.weight.dtype in AUTOCAST_DTYPES for m in model.modules()
             if isinstance(m, CAST_LAYERS)):
        cast_weights(model, torch.float32)  # prepared for autocast before
    wrap_entry_points(model, autocast, channels_last, compile)
    return model
