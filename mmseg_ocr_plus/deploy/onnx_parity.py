"""Check an exported ONNX model against PyTorch with ONNX Runtime or
OpenVINO (fp32)."""
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .openvino_model import compile_openvino

__all__ = ['ONNX_BACKENDS', 'onnx_parity', 'run_onnx', 'synthetic_inputs']

# Runtimes that run the ONNX file for the parity check.
ONNX_BACKENDS = ('onnxruntime', 'openvino')


def synthetic_inputs(n: int,
                     h: int,
                     w: int,
                     mean: Tensor,
                     std: Tensor,
                     seed: int = 0) -> Tensor:
    """Preprocessed test images: smooth random colour fields (0-255),
    normalised like the data preprocessor.

    Args:
        n, h, w (int): Batch size and image size.
        mean (Tensor): Per-channel mean, 3 values (0-255 scale).
        std (Tensor): Per-channel std, 3 values.
        seed (int): Random seed. Defaults to 0.

    Returns:
        Tensor: ``[n, 3, h, w]`` fp32.
    """
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, max(h // 16, 1), max(w // 16, 1), generator=g)
    image = F.interpolate(coarse * 255, size=(h, w), mode='bilinear')
    image = (image + 8 * torch.randn(n, 3, h, w, generator=g)).clamp(0, 255)
    return (image - mean.reshape(1, 3, 1, 1)) / std.reshape(1, 3, 1, 1)


def run_onnx(path: str, inputs: np.ndarray,
             backend: str = 'onnxruntime') -> List[np.ndarray]:
    """Run the ONNX file on ``inputs`` in fp32 on the CPU.

    Args:
        path (str): The ``.onnx`` file.
        inputs (np.ndarray): ``[N, 3, H, W]`` fp32 input.
        backend (str): ``'onnxruntime'`` or ``'openvino'`` (fp32, PyTorch's
            thread count, ``torch.get_num_threads()``). Defaults to
            ``'onnxruntime'``.

    Returns:
        list[np.ndarray]: The graph's outputs, in order.

    Raises:
        ValueError: If ``backend`` is not in :data:`ONNX_BACKENDS`.
        ImportError: If the backend is not installed (onnxruntime: the
            ``deploy`` extra; openvino: the ``openvino`` extra).
    """
    if backend == 'onnxruntime':
        import onnxruntime as ort
        session = ort.InferenceSession(
            path, providers=['CPUExecutionProvider'])
        return session.run(None, {session.get_inputs()[0].name: inputs})
    if backend == 'openvino':
        compiled = compile_openvino(path, 'f32', torch.get_num_threads())
        outputs = compiled([inputs])  # dict keyed by output port
        return [outputs[port] for port in compiled.outputs]
    raise ValueError(f'Expected backend in {ONNX_BACKENDS}, got {backend!r}')


def onnx_parity(module: nn.Module,
                path: str,
                inputs: Tensor,
                backend: str = 'onnxruntime') -> Dict:
    """Run ``module`` and the ONNX file on ``inputs``; compare outputs.

    Args:
        module (nn.Module): What was exported (e.g. ``SegmentorExport``):
            returns ``logits`` or ``(logits, labels)``.
        path (str): The ``.onnx`` file.
        inputs (Tensor): ``[N, 3, H, W]`` fp32 input.
        backend (str): What runs the ONNX file, ``'onnxruntime'`` or
            ``'openvino'`` (fp32), see :func:`run_onnx`. Defaults to
            ``'onnxruntime'``.

    Returns:
        dict: ``max_abs_diff`` (float, on the logits), ``logits_max``
        (float, max abs PyTorch logit, the scale of the diff) and, with
        labels, ``label_agreement`` (float in [0, 1]).

    Raises:
        ValueError: If ``backend`` is not in :data:`ONNX_BACKENDS`.
        ImportError: If the backend is not installed (onnxruntime: the
            ``deploy`` extra; openvino: the ``openvino`` extra).
    """
    if backend not in ONNX_BACKENDS:
        raise ValueError(f'Expected backend in {ONNX_BACKENDS}, got '
                         f'{backend!r}')
    with torch.no_grad():
        expected = module(inputs)
    if isinstance(expected, Tensor):
        expected = (expected, )
    got = run_onnx(path, inputs.cpu().numpy(), backend)
    logits = expected[0].float().cpu().numpy()
    if got[0].shape != logits.shape:
        raise ValueError(f'Expected ONNX logits of shape {logits.shape}, got '
                         f'{got[0].shape}')
    result = dict(
        max_abs_diff=float(np.abs(got[0] - logits).max()),
        logits_max=float(np.abs(logits).max()))
    if len(expected) > 1:
        labels = expected[1].cpu().numpy()
        result['label_agreement'] = float((got[1] == labels).mean())
    return result
