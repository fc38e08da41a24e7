"""SegFix's boundary and direction heads.

SegFix (Yuan et al., "SegFix: Model-Agnostic Boundary Refinement for
Segmentation", ECCV 2020, https://arxiv.org/abs/2007.04269; official code
openseg.pytorch ``lib/models/nets/segfix.py``) predicts, on the concatenated
HRNet features, a boundary map (2 classes) and the direction of each
boundary pixel towards the interior of its segment (8 bins). Both branches
are 1x1 conv -> BN-ReLU -> 1x1 conv, without conv bias. The losses are the
reference's ``SegFixLoss``: cross-entropy with class-balanced weights
(``1 - frequency`` in the batch) on the boundary map, and on the direction
of the ground-truth boundary pixels.

Shape shorthand in this module: B batch, C concatenated channels, h x w the
feature size (1/4 of the input for HRNet), H x W the target size, D the
number of direction bins (8).
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor, nn

__all__ = ['SegFixHead', 'balanced_cross_entropy']


def balanced_cross_entropy(logits: Tensor, target: Tensor,
                           ignore_index: int = 255) -> Tensor:
    """Cross-entropy weighted by ``1 - frequency`` of each class among the
    non-ignored targets, as the reference's ``SegFixLoss.calc_weights``.

    Where fewer than two classes occur the weights would not balance
    anything (and a single class would get weight 0 and a 0/0 loss), so the
    loss is then unweighted; without any non-ignored target it is 0, kept
    in the graph.

    Args:
        logits (Tensor): ``[B, K, H, W]``.
        target (Tensor): ``[B, H, W]`` int64 in ``0..K-1`` or
            ``ignore_index``.
        ignore_index (int): Target value without loss. Default: 255.

    Returns:
        Tensor: The scalar loss.
    """
    valid = target != ignore_index
    if not valid.any():
        return logits.sum() * 0
    counts = torch.bincount(target[valid], minlength=logits.shape[1])
    weight = None
    if (counts > 0).sum() >= 2:
        weight = 1 - counts.float() / counts.sum()
    return F.cross_entropy(
        logits, target, weight=weight, ignore_index=ignore_index)


def _stack_padded(maps: List[Tensor], size: Sequence[int],
                  pad_value: int) -> Tensor:
    """Stack ``[1, h_i, w_i]`` maps into ``[B, H, W]``, padding bottom and
    right with ``pad_value`` (as ``SegDataPreProcessor`` pads
    ``gt_sem_seg``)."""
    padded = [
        F.pad(m, (0, size[1] - m.shape[-1], 0, size[0] - m.shape[-2]),
              value=pad_value) for m in maps
    ]
    return torch.cat(padded, dim=0)


@MODELS.register_module()
class SegFixHead(BaseDecodeHead):
    """SegFix's two heads on the resized and concatenated input levels.

    ``forward`` returns the boundary logits (2 channels) followed by the
    direction logits (``num_directions`` channels) in one ``[B, 2 + D, h,
    w]`` tensor, so that MMSeg's inference (whole or slide) resizes and
    stitches both; the ``SegFix`` segmentor splits them again.

    Args:
        in_channels (Sequence[int]): Channels of the input levels, e.g.
            ``[48, 96, 192, 384]`` for HRNet-W48.
        channels (int): Mid channels of both branches; the reference's 256.
        num_directions (int): Direction bins. Default: 8.
        boundary_loss_weight (float): Weight of the boundary loss.
            Default: 1.0.
        direction_loss_weight (float): Weight of the direction loss.
            Default: 1.0.
        **kwargs: ``BaseDecodeHead``'s other arguments (``in_index``,
            ``norm_cfg``, ``align_corners``, ...). ``num_classes`` is 2 (the
            boundary classes) and ``input_transform`` is
            ``'resize_concat'``; ``loss_decode`` is not used (the losses
            are SegFix's, weighted by the two arguments above).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int = 256,
                 num_directions: int = 8,
                 boundary_loss_weight: float = 1.0,
                 direction_loss_weight: float = 1.0,
                 dropout_ratio: float = -1,
                 **kwargs):
        for key in ('num_classes', 'out_channels', 'input_transform'):
            if key in kwargs:
                raise ValueError(
                    f'SegFixHead sets {key} itself, got {key}={kwargs[key]}')
        super().__init__(
            in_channels=in_channels,
            channels=channels,
            num_classes=2,
            out_channels=2,
            input_transform='resize_concat',
            dropout_ratio=dropout_ratio,
            **kwargs)
        if 'init_cfg' not in kwargs:  # BaseDecodeHead's, for both classifiers
            self.init_cfg = dict(
                type='Normal',
                std=0.01,
                override=[dict(name='conv_seg'),
                          dict(name='conv_direction')])
        self.num_directions = num_directions
        self.boundary_loss_weight = boundary_loss_weight
        self.direction_loss_weight = direction_loss_weight

        def mid_conv() -> ConvModule:
            # bias='auto': no bias before the norm.
            return ConvModule(
                self.in_channels,
                channels,
                1,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)

        self.boundary_conv = mid_conv()
        self.direction_conv = mid_conv()
        # The classifiers have no bias in the reference.
        self.conv_seg = nn.Conv2d(channels, 2, 1, bias=False)
        self.conv_direction = nn.Conv2d(channels, num_directions, 1,
                                        bias=False)
        # What the segmentor's slide inference stitches: both heads.
        self.out_channels = 2 + num_directions

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Boundary and direction logits.

        Args:
            inputs (list[Tensor]): The backbone's levels ``[B, C_i, h_i,
                w_i]``.

        Returns:
            Tensor: ``[B, 2 + D, h, w]``: boundary logits, then direction
            logits.
        """
        x = self._transform_inputs(inputs)  # [B, C, h, w]
        boundary = self.cls_seg(self.boundary_conv(x))  # [B, 2, h, w]
        direction = self.direction_conv(x)
        if self.dropout is not None:
            direction = self.dropout(direction)
        direction = self.conv_direction(direction)  # [B, D, h, w]
        return torch.cat([boundary, direction], dim=1)

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: SampleList) -> dict:
        """The boundary and direction losses.

        Args:
            seg_logits (Tensor): ``[B, 2 + D, h, w]`` from :meth:`forward`.
            batch_data_samples (list[SegDataSample]): With
                ``gt_boundary_map`` and ``gt_direction_map`` (from
                ``GenerateSegFixTargets`` and ``PackSegFixInputs``).

        Returns:
            dict[str, Tensor]: ``loss_boundary``, ``loss_direction``,
            ``acc_boundary`` and ``acc_direction`` (on the ground-truth
            boundary pixels).
        """
        for key in ('gt_boundary_map', 'gt_direction_map'):
            if key not in batch_data_samples[0]:
                raise KeyError(
                    f'Expected {key} in the data samples (add '
                    f'GenerateSegFixTargets and PackSegFixInputs to the '
                    f'pipeline), found {sorted(batch_data_samples[0].keys())}')
        size = self._target_size(batch_data_samples)
        gt_boundary = _stack_padded(
            [s.gt_boundary_map.data for s in batch_data_samples], size,
            self.ignore_index)  # [B, H, W]
        gt_direction = _stack_padded(
            [s.gt_direction_map.data for s in batch_data_samples], size,
            self.ignore_index)  # [B, H, W]
        seg_logits = resize(
            seg_logits,
            size=size,
            mode='bilinear',
            align_corners=self.align_corners)  # [B, 2 + D, H, W]
        boundary, direction = seg_logits.split([2, self.num_directions],
                                               dim=1)
        return dict(
            loss_boundary=self.boundary_loss_weight * balanced_cross_entropy(
                boundary, gt_boundary, self.ignore_index),
            loss_direction=self.direction_loss_weight *
            balanced_cross_entropy(direction, gt_direction,
                                   self.ignore_index),
            acc_boundary=accuracy(
                boundary, gt_boundary, ignore_index=self.ignore_index),
            acc_direction=accuracy(
                direction, gt_direction, ignore_index=self.ignore_index))

    @staticmethod
    def _target_size(batch_data_samples: SampleList) -> Sequence[int]:
        """``(H, W)``: the padded batch size (``gt_sem_seg`` after the data
        preprocessor) or else the largest target."""
        sample: Optional[object] = batch_data_samples[0]
        if 'gt_sem_seg' in sample:
            return tuple(sample.gt_sem_seg.data.shape[-2:])
        return tuple(
            max(s.gt_boundary_map.data.shape[-2 + i]
                for s in batch_data_samples) for i in range(2))
