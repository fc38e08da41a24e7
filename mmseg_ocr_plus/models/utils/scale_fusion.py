"""Hierarchical fusion of per-scale logits with learnt attention.

Tao, Sapra, Catanzaro, "Hierarchical Multi-Scale Attention for Semantic
Segmentation", https://arxiv.org/abs/2005.10821 (``MscaleOCR.nscale_forward``
in NVIDIA's ``network/ocrnet.py``).

With the scales sorted from high to low, the first prediction is taken as it
is and every next scale ``s`` (attention ``a_s``, logits ``p_s``) folds it in:

* ``s >= 1``: ``pred = a_s * p_s + (1 - a_s) * down(pred)``, at scale ``s``;
* ``s < 1``: ``pred = up(a_s * p_s) + (1 - up(a_s)) * pred``: the product is
  upsampled, not its factors, and ``pred`` keeps its size.

Every resize is bilinear with ``align_corners=False``, as in the reference.

Shape shorthand: B batch, K classes, H_s x W_s the input size at scale s.
"""
from typing import Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor


def resize_as(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """Bilinear resize (``align_corners=False``) to ``size``; ``x`` itself
    if it has that size already."""
    if tuple(x.shape[2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


def fuse_scales(preds: Sequence[Tensor], attns: Sequence[Tensor],
                scales: Sequence[float]) -> Tensor:
    """Fold per-scale logits into one prediction, highest scale first.

    Args:
        preds (Sequence[Tensor]): ``[B, K, H_s, W_s]`` logits of each scale,
            in the order of ``scales``.
        attns (Sequence[Tensor | None]): ``[B, 1, H_s, W_s]`` attention of
            each scale; that of the first scale is not used (may be None).
        scales (Sequence[float]): Scales, sorted from high to low.

    Returns:
        Tensor: ``[B, K, H, W]``, the size of the last scale >= 1 (the size
        of the first prediction if every later scale is below 1).
    """
    if not (len(preds) == len(attns) == len(scales) > 0):
        raise ValueError('Expected as many predictions, attentions and '
                         f'scales (at least one), got {len(preds)}, '
                         f'{len(attns)} and {len(scales)}')
    if list(scales) != sorted(scales, reverse=True):
        raise ValueError(f'Expected scales sorted high to low, got {scales}')
    pred = preds[0]
    for s, p, a in zip(scales[1:], preds[1:], attns[1:]):
        if s >= 1.0:
            pred = a * p + (1 - a) * resize_as(pred, p.shape[2:])
        else:
            size = pred.shape[2:]
            pred = resize_as(a * p, size) + (1 - resize_as(a, size)) * pred
    return pred
