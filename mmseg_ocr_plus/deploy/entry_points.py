"""Run a segmentor's inference entry points in autocast and channels-last,
optionally compiled.

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
  as ``[B, N, C]`` matrices. The outputs are made contiguous again;
* with ``compile`` the wrapper goes through ``torch.compile`` with Inductor's
  ``freezing`` (:func:`~.compiled_call.compile_call`).
"""
import contextlib
import functools
from typing import Callable, Optional

import torch
from torch import Tensor, nn

from .compiled_call import compile_call

__all__ = ['wrap_entry_points']

ENTRY_POINTS = ('_forward', 'encode_decode')


def wrap_call(method: Callable, dtype: Optional[torch.dtype],
              channels_last: bool) -> Callable:
    """``method(inputs, ...)`` in autocast (on the inputs' device; no cast
    cache: the weights are stored in ``dtype``) and/or channels-last; a
    contiguous tensor out, fp32 after autocast."""

    @functools.wraps(method)
    def wrapper(inputs: Tensor, *args, **kwargs):
        if channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        context = (
            torch.autocast(inputs.device.type, dtype, cache_enabled=False)
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
    wrapper.compiled = False
    return wrapper


def wrap_entry_points(model: nn.Module,
                      dtype: Optional[torch.dtype] = None,
                      channels_last: bool = False,
                      compile: bool = False) -> nn.Module:
    """Wrap the model's inference entry points, in place.

    Args:
        model (nn.Module): A segmentor (``_forward``, ``encode_decode``).
        dtype (torch.dtype, optional): ``torch.bfloat16`` or
            ``torch.float16`` for autocast; None for none. Defaults to None.
        channels_last (bool): Make the input channels-last. Defaults to
            False.
        compile (bool): Compile the wrapped entry points
            (:func:`compile_call`). Defaults to False.

    Returns:
        nn.Module: ``model``; wrapping it twice replaces the first wrapper,
        and with no option the class's methods are restored.
    """
    for name in ENTRY_POINTS:
        if not hasattr(model, name):
            continue
        vars(model).pop(name, None)  # an earlier wrapper
        if dtype is None and not channels_last and not compile:
            continue
        # The class's method, not a wrapper set by an earlier call.
        method = getattr(type(model), name).__get__(model)
        wrapper = wrap_call(method, dtype, channels_last)
        setattr(model, name, compile_call(wrapper) if compile else wrapper)
    return model
