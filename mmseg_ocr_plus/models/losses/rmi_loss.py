"""Region mutual information (RMI) loss.

Zhao, Wang, Huang, Cai, "Region Mutual Information Loss for Semantic
Segmentation", NeurIPS 2019, https://arxiv.org/abs/1910.12037; official code:
https://github.com/ZJULearning/RMI. The formulation is that of NVIDIA's
``semantic-segmentation/loss/rmi.py`` (openseg.pytorch uses the same one with
max pooling 3/3 and ``pos_alpha=1e-3``):

``loss = lambda * BCE + (1 - lambda) * RMI`` (``lambda_way=1``), where BCE is
the sigmoid binary cross entropy summed over classes and averaged over the
valid pixels (divided by their count + 1), and RMI is, per class and image,
``0.5 * log det(Var[Y | P]) / D`` (D = radius^2), the log-determinant of the
posterior covariance of the D-dim label neighbourhoods Y given the
probability neighbourhoods P, averaged over images and summed over classes.

Unlike the references this module:

* never mutates the label tensor (openseg rewrites ignored labels in place);
* computes the covariances, the solve and the log-determinant in float64 on
  any device, with autocast off (openseg casts to ``torch.cuda.DoubleTensor``,
  NVIDIA turns off apex casts);
* never raises on a matrix that is not numerically positive definite (the
  crash of ZJULearning/RMI#12): it retries the Cholesky factorisation of the
  failing matrices with a larger diagonal jitter, and if that fails too drops
  their term (identity matrix, log-det 0). Every such matrix is counted in
  ``singular_count`` and reported with a warning in the current MMEngine log.

Shape shorthand in this module:
    B: batch, K: classes, H x W: label size, h x w: pooled size,
    D = rmi_radius ** 2, M = (h - radius + 1) * (w - radius + 1).
"""
import logging
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.registry import MODELS
from torch import Tensor, nn

_CLIP_MIN = 1e-6  # added to the masked probabilities, as the references
_CHOL_EPS = 1e-8  # added to the Cholesky diagonal before the log
_RETRIES = 3  # jitter pos_alpha * 10 ** k, k = 1..3, before the fallback


def region_vectors(maps: Tensor, radius: int) -> Tensor:
    """The ``radius x radius`` neighbourhood of every valid position.

    Args:
        maps (Tensor): ``[B, K, h, w]``.
        radius (int): Side of the square neighbourhood.

    Returns:
        Tensor: ``[B, K, D, M]``, D = radius^2 offsets (row-major), M valid
        top-left positions (no padding).
    """
    B, K, h, w = maps.shape
    new_h, new_w = h - radius + 1, w - radius + 1
    shifted = [
        maps[:, :, y:y + new_h, x:x + new_w] for y in range(radius)
        for x in range(radius)
    ]
    return torch.stack(shifted, dim=2).flatten(3)  # [B, K, D, M]


class RobustCholesky:
    """Batched Cholesky factorisation that does not raise.

    Matrices whose factorisation fails get ``jitter * 10 ** k`` added to the
    diagonal for k = 1..3; any still failing is replaced by the identity (its
    log-determinant term becomes 0 and gets no gradient).

    Args:
        jitter (float): Base diagonal jitter (a floor of 1e-6 applies).
    """

    def __init__(self, jitter: float) -> None:
        self.jitter = max(jitter, 1e-6)

    def __call__(self, matrix: Tensor) -> Tuple[Tensor, int]:
        """Factorise ``matrix`` ``[..., D, D]``.

        Returns:
            tuple[Tensor, int]: The lower factor ``[..., D, D]`` and the
            number of matrices that needed a retry or the fallback.
        """
        chol, info = torch.linalg.cholesky_ex(matrix)
        failed = info != 0  # [...]
        num_failed = int(failed.sum())
        if num_failed == 0:
            return chol, 0
        eye = torch.eye(
            matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
        for k in range(1, _RETRIES + 1):
            jitter = failed[..., None, None] * (self.jitter * 10**k) * eye
            chol, info = torch.linalg.cholesky_ex(matrix + jitter)
            failed = info != 0
            if not failed.any():
                return chol, num_failed
        # Fallback: drop the failing terms (NaN/inf entries land here).
        safe = torch.where(failed[..., None, None], eye, matrix)
        chol, _ = torch.linalg.cholesky_ex(safe)
        return chol, num_failed


@MODELS.register_module()
class RMILoss(nn.Module):
    """Region mutual information loss (https://arxiv.org/abs/1910.12037).

    Takes raw logits (the sigmoid is applied inside) and integer labels, as
    every MMSeg decode-head loss does; usable alone as ``loss_decode`` or in
    a list with ``CrossEntropyLoss``. With the defaults (NVIDIA's) the value
    equals NVIDIA's ``loss/rmi.py`` ``RMILoss``; openseg.pytorch's
    Cityscapes setting is ``rmi_pool_way='max', rmi_pool_size=3,
    rmi_pool_stride=3, pos_alpha=1e-3``.

    Args:
        num_classes (int): K.
        rmi_radius (int): Side of the square neighbourhood, 1..10.
            Defaults to 3 (9-dim vectors).
        rmi_pool_way (str): ``'avg'`` or ``'max'`` pooling before the RMI
            term. Defaults to ``'avg'``.
        rmi_pool_size (int): Pooling kernel. Defaults to 4.
        rmi_pool_stride (int): Pooling stride; 1 disables the pooling.
            Defaults to 4.
        lambda_way (int): 1: ``lambda * BCE + (1 - lambda) * RMI``; 0:
            ``BCE + lambda * RMI``. Defaults to 1.
        loss_weight_lambda (float): lambda. Defaults to 0.5.
        pos_alpha (float): Diagonal added to both covariance matrices to
            keep them positive definite. Defaults to 5e-4.
        ignore_index (int): Label ignored when the caller passes none.
            Labels outside ``[0, K)`` are ignored too. Defaults to 255.
        loss_weight (float): Factor on the loss. Defaults to 1.0.
        loss_name (str): Name of the loss item. Defaults to ``'loss_rmi'``.

    Attributes:
        singular_count (int): Covariance matrices so far whose Cholesky
            factorisation needed a larger jitter or the fallback.
    """

    def __init__(self,
                 num_classes: int,
                 rmi_radius: int = 3,
                 rmi_pool_way: str = 'avg',
                 rmi_pool_size: int = 4,
                 rmi_pool_stride: int = 4,
                 lambda_way: int = 1,
                 loss_weight_lambda: float = 0.5,
                 pos_alpha: float = 5e-4,
                 ignore_index: int = 255,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_rmi') -> None:
        super().__init__()
        if rmi_radius not in range(1, 11):
            raise ValueError(f'Expected rmi_radius in 1..10, got {rmi_radius}')
        if rmi_pool_way not in ('avg', 'max'):
            raise ValueError("Expected rmi_pool_way 'avg' or 'max', got "
                             f'{rmi_pool_way!r}')
        if lambda_way not in (0, 1):
            raise ValueError(f'Expected lambda_way 0 or 1, got {lambda_way}')
        self.num_classes = num_classes
        self.rmi_radius = rmi_radius
        self.rmi_pool_way = rmi_pool_way
        self.rmi_pool_size = rmi_pool_size
        self.rmi_pool_stride = rmi_pool_stride
        self.lambda_way = lambda_way
        self.loss_weight_lambda = loss_weight_lambda
        self.pos_alpha = pos_alpha
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self._loss_name = loss_name
        self.cholesky = RobustCholesky(pos_alpha)
        self.singular_count = 0

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
            cls_score (Tensor): ``[B, K, H, W]`` logits, any float dtype.
            label (Tensor): ``[B, H, W]`` class indices; not modified.
            weight (Tensor, optional): Per-pixel weights of a sampler; not
                supported, must be None.
            ignore_index (int, optional): Overrides ``self.ignore_index``
                (MMSeg decode heads pass theirs).

        Returns:
            Tensor: Scalar loss in fp32 (fp64 for fp64 logits).
        """
        if weight is not None:
            raise ValueError('RMILoss takes no per-pixel weight; expected '
                             'weight=None (no sampler), got a tensor')
        if cls_score.shape[1] != self.num_classes:
            raise ValueError(f'Expected {self.num_classes} classes, got '
                             f'logits of shape {tuple(cls_score.shape)}')
        ignore = self.ignore_index if ignore_index is None else ignore_index
        dtype = torch.float64 if cls_score.dtype == torch.float64 else (
            torch.float32)
        with torch.autocast(cls_score.device.type, enabled=False):
            loss = self._loss(cls_score.to(dtype), label, ignore)
        return self.loss_weight * loss

    def _loss(self, logits: Tensor, label: Tensor, ignore: int) -> Tensor:
        K = self.num_classes
        valid = (label != ignore) & (label >= 0) & (label < K)  # [B, H, W]
        mask = valid.unsqueeze(1).to(logits.dtype)  # [B, 1, H, W]
        onehot = F.one_hot(torch.where(valid, label, 0).long(), K)
        onehot = onehot.permute(0, 3, 1, 2).to(logits.dtype) * mask

        bce = F.binary_cross_entropy_with_logits(
            logits, onehot, reduction='none')  # [B, K, H, W]
        bce = (bce * mask).sum() / (mask.sum() + 1.0)

        probs = logits.sigmoid() * mask + _CLIP_MIN  # [B, K, H, W]
        rmi = self.rmi_lower_bound(onehot, probs).to(logits.dtype)
        lam = self.loss_weight_lambda
        if self.lambda_way:
            return lam * bce + (1 - lam) * rmi
        return bce + lam * rmi

    def rmi_lower_bound(self, labels: Tensor, probs: Tensor) -> Tensor:
        """Sum over classes of the mean over images of
        ``0.5 * log det(Var[Y | P] + pos_alpha * I) / D``.

        Args:
            labels (Tensor): ``[B, K, H, W]`` masked one-hot labels.
            probs (Tensor): ``[B, K, H, W]`` masked probabilities.

        Returns:
            Tensor: Scalar, float64.
        """
        size, stride = self.rmi_pool_size, self.rmi_pool_stride
        if stride > 1:
            pool = F.max_pool2d if self.rmi_pool_way == 'max' else (
                F.avg_pool2d)
            labels = pool(labels, size, stride, padding=size // 2)
            probs = pool(probs, size, stride, padding=size // 2)
        D = self.rmi_radius**2
        la = region_vectors(labels.double(), self.rmi_radius)  # [B, K, D, M]
        pr = region_vectors(probs.double(), self.rmi_radius)  # [B, K, D, M]
        la = la - la.mean(dim=3, keepdim=True)
        pr = pr - pr.mean(dim=3, keepdim=True)
        eye = torch.eye(D, dtype=la.dtype, device=la.device)
        la_cov = la @ la.transpose(2, 3)  # [B, K, D, D]
        pr_cov = pr @ pr.transpose(2, 3)  # [B, K, D, D]
        la_pr_cov = la @ pr.transpose(2, 3)  # [B, K, D, D]

        # Var[Y | P] ~ la_cov - la_pr_cov (pr_cov + a I)^-1 la_pr_cov^T
        pr_chol, n1 = self.cholesky(pr_cov + self.pos_alpha * eye)
        solved = torch.cholesky_solve(la_pr_cov.transpose(2, 3), pr_chol)
        appro_var = la_cov - la_pr_cov @ solved  # [B, K, D, D]
        appro_var = 0.5 * (appro_var + appro_var.transpose(2, 3))
        var_chol, n2 = self.cholesky(appro_var + self.pos_alpha * eye)
        self._count_singular(n1 + n2)

        diag = torch.diagonal(var_chol, dim1=-2, dim2=-1)  # [B, K, D]
        log_det = 2.0 * torch.log(diag + _CHOL_EPS).sum(dim=-1)  # [B, K]
        rmi_per_class = 0.5 * log_det.mean(dim=0) / D  # [K]
        return rmi_per_class.sum()

    def _count_singular(self, num: int) -> None:
        if num == 0:
            return
        self.singular_count += num
        print_log(
            f'RMILoss: {num} covariance matrices were not positive definite '
            f'(jitter retry or fallback); {self.singular_count} so far',
            logger='current',
            level=logging.WARNING)
