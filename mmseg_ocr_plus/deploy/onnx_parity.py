"""Check an exported ONNX model against PyTorch with ONNX Runtime."""
from typing import Dict

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['onnx_parity', 'synthetic_inputs']


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


def onnx_parity(module: nn.Module, path: str, inputs: Tensor) -> Dict:
    """Run ``module`` and the ONNX file on ``inputs``; compare outputs.

    Args:
        module (nn.Module): What was exported (e.g. ``SegmentorExport``):
            returns ``logits`` or ``(logits, labels)``.
        path (str): The ``.onnx`` file.
        inputs (Tensor): ``[N, 3, H, W]`` fp32 input.

    Returns:
        dict: ``max_abs_diff`` (float, on the logits), ``logits_max``
        (float, max abs PyTorch logit, the scale of the diff) and, with
        labels, ``label_agreement`` (float in [0, 1]).

    Raises:
        ImportError: If onnxruntime is not installed (the ``deploy``
            extra).
    """
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    with torch.no_grad():
        expected = module(inputs)
    if isinstance(expected, Tensor):
        expected = (expected, )
    feed = {session.get_inputs()[0].name: inputs.cpu().numpy()}
    got = session.run(None, feed)
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
