"""Compile an exported ONNX file with OpenVINO for the CPU.

OpenVINO reads the ``.onnx`` file itself (no conversion step). Its CPU
plugin computes in bf16 by default wherever the CPU has bf16 instructions
(AVX512-BF16, AMX), so a parity check has to ask for fp32
(``INFERENCE_PRECISION_HINT: 'f32'``); :func:`compile_openvino` always sets
the precision.

Needs the ``openvino`` extra: ``pip install -e '.[openvino]'``.
"""
from typing import Any, Optional

__all__ = ['OPENVINO_PRECISIONS', 'compile_openvino']

# Values of OpenVINO's INFERENCE_PRECISION_HINT offered here.
OPENVINO_PRECISIONS = ('f32', 'bf16')


def compile_openvino(path: str,
                     precision: str = 'f32',
                     threads: Optional[int] = None) -> Any:
    """Compile the ONNX file ``path`` for OpenVINO's CPU device.

    Args:
        path (str): The ``.onnx`` file (static or dynamic shapes).
        precision (str): ``'f32'`` or ``'bf16'``, OpenVINO's
            ``INFERENCE_PRECISION_HINT``. Defaults to ``'f32'``.
        threads (int, optional): ``INFERENCE_NUM_THREADS``. Defaults to
            None (OpenVINO's default: all cores).

    Returns:
        openvino.CompiledModel: Called with ``[array]``, it returns a dict
        keyed by output port (also indexable by position).

    Raises:
        ValueError: If ``precision`` or ``threads`` is not valid.
        ImportError: If openvino is not installed (the ``openvino``
            extra).
    """
    if precision not in OPENVINO_PRECISIONS:
        raise ValueError(f'Expected precision in {OPENVINO_PRECISIONS}, got '
                         f'{precision!r}')
    if threads is not None and threads < 1:
        raise ValueError(f'Expected threads >= 1, got {threads}')
    try:
        import openvino as ov
    except ImportError as err:
        raise ImportError('openvino not installed: expected the openvino '
                          "extra, pip install -e '.[openvino]'") from err
    config = {'INFERENCE_PRECISION_HINT': precision}
    if threads is not None:
        config['INFERENCE_NUM_THREADS'] = threads
    return ov.Core().compile_model(path, 'CPU', config)
