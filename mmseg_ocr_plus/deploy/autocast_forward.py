"""Run a segmentor's inference entry points under ``torch.autocast``.

``prepare_for_inference(model, dtype)`` wraps the instance's ``_forward``
(``mode='tensor'``, what ONNX export traces) and ``encode_decode`` (what
``predict`` and MMSeg's ``inference`` call) so that their convs and matrix
products run in ``dtype`` (bf16 on CPU, fp16 on CUDA); the heads keep their
softmaxes in fp32 themselves. The outputs are cast back to fp32, so the
resizing and argmax that follow see fp32 logits, as on the default path.
"""
import functools
from typing import Callable

import torch
from torch import nn

__all__ = ['autocast_inference']

ENTRY_POINTS = ('_forward', 'encode_decode')


def autocast_call(method: Callable, device_type: str,
                  dtype: torch.dtype) -> Callable:
    """``method`` under ``torch.autocast(device_type, dtype)``, fp32 out."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with torch.autocast(device_type, dtype=dtype):
            out = method(*args, **kwargs)
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            return out.float()
        return out

    wrapper.autocast_dtype = dtype
    return wrapper


def autocast_inference(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Wrap the model's inference entry points in autocast, in place.

    Args:
        model (nn.Module): A segmentor (``_forward``, ``encode_decode``).
        dtype (torch.dtype): ``torch.bfloat16`` or ``torch.float16``.

    Returns:
        nn.Module: ``model``; wrapping it twice replaces the first wrapper.
    """
    param = next(model.parameters(), None)
    device_type = param.device.type if param is not None else 'cpu'
    for name in ENTRY_POINTS:
        if not hasattr(model, name):
            continue
        # The class's method, not a wrapper set by an earlier call.
        method = getattr(type(model), name).__get__(model)
        setattr(model, name, autocast_call(method, device_type, dtype))
    return model
