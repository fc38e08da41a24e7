"""Run a segmentor's inference entry points in autocast and channels-last.

``prepare_for_inference`` wraps the instance's ``_forward`` (``mode='tensor'``,
what ONNX export traces) and ``encode_decode`` (what ``predict`` and MMSeg's
``inference`` call):

* under ``torch.autocast`` (bf16 on CPU, fp16 on CUDA) their convs and
  matrix products run in the low-precision dtype; the heads keep their
  softmaxes in fp32 themselves, and the outputs are cast back to fp32, so the
  resizing and argmax that follow see fp32 logits, as on the default path;
* with ``channels_last`` the input image is made channels-last (the weights
  are converted once by ``prepare_for_inference``), so oneDNN convolves
  without reordering every activation, and the OCR head reads the features
  as ``[B, N, C]`` matrices. The outputs are made contiguous again.
"""
import contextlib
import functools
from typing import Callable, Optional

import torch
from torch import Tensor, nn

__all__ = ['wrap_entry_points']

ENTRY_POINTS = ('_forward', 'encode_decode')


def wrap_call(method: Callable, device_type: str,
              dtype: Optional[torch.dtype], channels_last: bool) -> Callable:
    """``method(inputs, ...)`` in autocast and/or channels-last; a
    contiguous tensor out, fp32 after autocast."""

    @functools.wraps(method)
    def wrapper(inputs: Tensor, *args, **kwargs):
        if channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        context = (
            torch.autocast(device_type, dtype=dtype)
            if dtype is not None else contextlib.nullcontext())
        with context:
            out = method(inputs, *args, **kwargs)
        if isinstance(out, Tensor) and out.is_floating_point():
            if out.dtype in (torch.bfloat16, torch.float16):
                out = out.float()
            return out.contiguous()
        return out

    wrapper.autocast_dtype = dtype
    wrapper.channels_last = channels_last
    return wrapper


def wrap_entry_points(model: nn.Module,
                      dtype: Optional[torch.dtype] = None,
                      channels_last: bool = False) -> nn.Module:
    """Wrap the model's inference entry points, in place.

    Args:
        model (nn.Module): A segmentor (``_forward``, ``encode_decode``).
        dtype (torch.dtype, optional): ``torch.bfloat16`` or
            ``torch.float16`` for autocast; None for none. Defaults to None.
        channels_last (bool): Make the input channels-last. Defaults to
            False.

    Returns:
        nn.Module: ``model``; wrapping it twice replaces the first wrapper,
        and with neither option the class's methods are restored.
    """
    param = next(model.parameters(), None)
    device_type = param.device.type if param is not None else 'cpu'
    for name in ENTRY_POINTS:
        if not hasattr(model, name):
            continue
        vars(model).pop(name, None)  # an earlier wrapper
        if dtype is None and not channels_last:
            continue
        # The class's method, not a wrapper set by an earlier call.
        method = getattr(type(model), name).__get__(model)
        setattr(model, name, wrap_call(method, device_type, dtype,
                                       channels_last))
    return model
