"""An inference entry point through ``torch.compile`` with Inductor's
freezing: the weights become constants, and on the CPU oneDNN runs each conv
fused with the ReLU and the residual addition after it.

Used by ``prepare_for_inference(..., compile=True)``; see
:func:`compile_call` for what a compiled entry point keeps and refuses.
"""
import functools
import importlib.util
import os
import shutil
import types
from typing import Callable, Optional

import torch

__all__ = ['compile_call', 'compile_unavailable_reason']


def compile_unavailable_reason(device_type: str) -> Optional[str]:
    """Why ``torch.compile`` cannot build code for ``device_type`` here, or
    None: Inductor needs a C++ compiler on the CPU (``$CXX`` or g++), Triton
    and a C compiler (``$CC`` or gcc) on CUDA."""
    if device_type == 'cuda':
        if importlib.util.find_spec('triton') is None:
            return 'torch.compile on CUDA needs Triton, not installed'
        program, variable = os.environ.get('CC', 'gcc'), 'CC'
    else:
        program, variable = os.environ.get('CXX', 'g++'), 'CXX'
    if shutil.which(program) is None:
        return (f'torch.compile on {device_type} needs the compiler '
                f'{program} (${variable}), not found')
    return None


def compile_call(wrapper: Callable) -> Callable:
    """``wrapper`` through ``torch.compile`` with Inductor's ``freezing``,
    called without gradients; its attributes kept, ``compiled`` set.

    - Freezing reads the weights at the first call: change them afterwards
      and the compiled graph does not see it; preparing the model again
      compiles again.
    - Shapes are static: each new input shape compiles again, and after
      Dynamo's recompile limit (8 by default) the entry point runs eagerly,
      with a warning in the log.
    - Each call compiles its own copy of ``wrapper``'s code: Dynamo keeps its
      cache (and counts the recompile limit) per code object, and every
      wrapper shares one, so without the copy a model prepared again would
      reuse the graph frozen with its old weights, and all models and entry
      points would share one limit.
    - Freezing is switched on around each call with
      ``torch._inductor.config.patch``: ``torch.compile(options={'freezing':
      True})`` is not enough (torch 2.13: Dynamo reads the flag when it
      traces, before the options apply; the convs then stay unfused ``aten``
      convs, as the tests check).
    """
    from torch._inductor import config as inductor_config

    own_code = types.FunctionType(wrapper.__code__.replace(),
                                  wrapper.__globals__, wrapper.__name__,
                                  wrapper.__defaults__, wrapper.__closure__)
    compiled = torch.compile(own_code, dynamic=False)

    @functools.wraps(wrapper)
    def call(*args, **kwargs):
        with torch.no_grad(), inductor_config.patch(freezing=True):
            return compiled(*args, **kwargs)

    call.compiled = True
    return call
