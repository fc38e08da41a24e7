"""Online hard example mining (OHEM) cross entropy, normalised as the OCRNet
references do.

Shrivastava, Gupta, Girshick, "Training Region-based Object Detectors with
Online Hard Example Mining", CVPR 2016, https://arxiv.org/abs/1604.03540;
the pixel-wise form of openseg.pytorch's ``FSOhemCELoss`` and HRNet-OCR's
``OhemCrossEntropy`` used to train OCRNet
(https://arxiv.org/abs/1909.11065).

Of the valid pixels of the batch, keep those whose ground-truth probability
is below ``max(thresh, p_(min_kept))`` (``p_(i)`` the i-th smallest, from 0,
of the batch's ground-truth probabilities) and average their cross entropy
over the kept pixels. MMSeg's ``OHEMPixelSampler`` instead zeroes the other
pixels and averages over all of them, so its loss shrinks with the kept
fraction.
"""
from typing import List, Optional, Union

import torch
import torch.nn.functional as F
from mmseg.models.losses.utils import get_class_weight
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class OhemCrossEntropyLoss(nn.Module):
    """Softmax cross entropy over the hard pixels, averaged over them.

    ``min_kept`` counts pixels of the whole batch given to the loss (one
    process's batch: per GPU, as in openseg.pytorch and HRNet-OCR), not per
    image. With class weights ``w`` the loss is ``sum_kept w[y] * ce /
    sum_kept w[y]``, PyTorch's normalisation of a weighted cross entropy
    (openseg averages the weighted terms over their count instead).

    Args:
        thresh (float): Probability threshold. Defaults to 0.9 (Cityscapes,
            ADE20K; 0.7 for PASCAL-Context).
        min_kept (int): Keep at least about this many pixels of the batch
            (pixels tied at the threshold are dropped). Defaults to 131072
            (HRNet-OCR, per GPU; openseg uses 100000).
        class_weight (list[float] | str, optional): Weight of each class, or
            a file to read them from (``.npy``, json, yaml, pkl), as MMSeg's
            ``CrossEntropyLoss``. Defaults to None.
        ignore_index (int): Label ignored when the caller passes none.
            Defaults to 255.
        loss_weight (float): Factor on the loss. Defaults to 1.0.
        loss_name (str): Name of the loss item; a cross entropy like MMSeg's.
            Defaults to ``'loss_ce'``.
    """

    def __init__(self,
                 thresh: float = 0.9,
                 min_kept: int = 131072,
                 class_weight: Optional[Union[List[float], str]] = None,
                 ignore_index: int = 255,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce') -> None:
        super().__init__()
        if not 0.0 <= thresh <= 1.0:
            raise ValueError(f'Expected thresh in [0, 1], got {thresh}')
        if min_kept < 0:
            raise ValueError(f'Expected min_kept >= 0, got {min_kept}')
        self.thresh = thresh
        self.min_kept = int(min_kept)
        self.class_weight = get_class_weight(class_weight)
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """str: Name of the loss item (MMSeg sums items of equal name)."""
        return self._loss_name

    def forward(self,
                cls_score: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                ignore_index: Optional[int] = None,
                **kwargs) -> Tensor:
        """The weighted loss.

        Args:
            cls_score (Tensor): ``[B, K, H, W]`` logits.
            label (Tensor): ``[B, H, W]`` class indices; not modified.
            weight (Tensor, optional): Per-pixel weights of a sampler; not
                supported (this loss selects its pixels), must be None.
            ignore_index (int, optional): Overrides ``self.ignore_index``
                (MMSeg decode heads pass theirs).

        Returns:
            Tensor: Scalar loss; 0 (with a graph) if no pixel is kept.
        """
        if weight is not None:
            raise ValueError('OhemCrossEntropyLoss selects its own pixels; '
                             'expected weight=None (no sampler), got a tensor')
        ignore = self.ignore_index if ignore_index is None else ignore_index
        logits = cls_score.float()  # [B, K, H, W]
        valid = label != ignore  # [B, H, W]
        target = torch.where(valid, label, 0).long()  # [B, H, W]
        kept = self.hard_pixels(logits.detach(), target, valid)  # [B, H, W]

        pixel_loss = F.cross_entropy(logits, target, reduction='none')
        pixel_weight = kept.to(logits.dtype)  # [B, H, W]
        if self.class_weight is not None:
            class_weight = logits.new_tensor(self.class_weight)  # [K]
            pixel_weight = pixel_weight * class_weight[target]
        total = pixel_weight.sum()
        loss = (pixel_loss * pixel_weight).sum() / total.clamp(min=1e-12)
        return self.loss_weight * loss

    def hard_pixels(self, logits: Tensor, target: Tensor,
                    valid: Tensor) -> Tensor:
        """The mask of kept pixels.

        Args:
            logits (Tensor): ``[B, K, H, W]``.
            target (Tensor): ``[B, H, W]`` labels, ignored ones set to 0.
            valid (Tensor): ``[B, H, W]`` bool, not ignored.

        Returns:
            Tensor: ``[B, H, W]`` bool.
        """
        prob = F.softmax(logits, dim=1).gather(1, target.unsqueeze(1))
        prob = prob.squeeze(1)  # [B, H, W] ground-truth probability
        valid_prob = prob[valid]  # [P]
        if valid_prob.numel() == 0:
            return valid
        k = min(self.min_kept, valid_prob.numel() - 1)
        kth = valid_prob.kthvalue(k + 1).values  # p_(k), 0-based
        threshold = torch.clamp(kth, min=self.thresh)
        return valid & (prob < threshold)
