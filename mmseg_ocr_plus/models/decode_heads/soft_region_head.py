"""The cascade auxiliary head of OCRNet: it predicts the soft object regions.

OCRNet (Yuan et al., "Object-Contextual Representations for Semantic
Segmentation", https://arxiv.org/abs/1909.11065) first predicts coarse
K-class logits from the backbone features; the OCR head turns them into K
object-region representations. This head is MMSeg's ``FCNHead`` (same layers,
same state-dict keys, so MMSeg model-zoo weights load unchanged) with:

* a ``cache`` argument to ``forward`` through which
  :class:`~mmseg_ocr_plus.models.segmentors.OCRCascadeEncoderDecoder` shares
  one ``resize_concat`` of the backbone features between both heads;
* ``conv_bias``: the official openseg.pytorch aux head has a biased 3x3 conv
  before its BN (``kernel_size=3, conv_bias=True``); HRNet-OCR uses a biased
  1x1 conv (``kernel_size=1, conv_bias=True``); MMSeg has no bias;
* ``lowres_conv``: on ``resize_concat`` inputs (HRNet), the first conv mixes
  the channels of the 4x- and 8x-upsampled levels at their own resolution
  (:func:`~mmseg_ocr_plus.models.utils.resize_concat_conv`), the same
  function with less compute.
"""
from typing import Dict, List, Optional

import torch
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads import FCNHead
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils import (
    check_lowres_option,
    resize_concat_conv_module,
    shared_transform_inputs,
)


@MODELS.register_module()
class SoftRegionHead(FCNHead):
    """FCN head whose logits are OCRNet's soft object regions.

    Shapes: input features ``[B, in_channels, H, W]`` after the input
    transform; output logits ``[B, num_classes, H, W]``.

    Args:
        conv_bias (bool): Give every conv before the classifier a bias, as
            the official OCRNet code does. Adds ``convs.i.conv.bias`` keys
            that MMSeg checkpoints do not have. Defaults to False.
        lowres_conv (bool): With ``resize_concat`` inputs, compute the first
            conv with the upsampled levels mixed at their own resolution
            where that pays (HRNet-W18: the 4x and 8x levels), in fp32 on
            the CPU (bf16/fp16 convs and GPUs keep the direct conv). The
            same function and state dict (float64 tests: within 1e-10).
            Needs a plain conv (no ``conv_cfg``, no dilation). Defaults to
            False.
        **kwargs: Arguments of MMSeg's ``FCNHead`` (``num_convs``,
            ``kernel_size``, ``concat_input``, ``dilation``) and
            ``BaseDecodeHead``.
    """

    shares_transform = True  # forward takes ``cache``

    def __init__(self,
                 conv_bias: bool = False,
                 lowres_conv: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.conv_bias = conv_bias
        self.lowres_conv = lowres_conv
        if lowres_conv:
            if self.num_convs < 1:
                raise ValueError('lowres_conv=True needs num_convs >= 1')
            check_lowres_option(self, self.convs[0], 'lowres_conv')
        if conv_bias:
            for module in self.modules():
                if isinstance(module, ConvModule):
                    conv = module.conv
                    conv.bias = nn.Parameter(torch.zeros(conv.out_channels))

    def forward(self,
                inputs: List[Tensor],
                cache: Optional[Dict] = None) -> Tensor:
        """Predict soft-region logits.

        Args:
            inputs (list[Tensor]): Multi-level backbone features.
            cache (dict, optional): Transformed features shared by the heads
                of one forward pass (see ``shared_transform_inputs``).

        Returns:
            Tensor: ``[B, num_classes, H, W]`` logits, ``H x W`` the size of
            the transformed features.
        """
        if self.lowres_conv:
            feats = resize_concat_conv_module(self, self.convs[0], inputs,
                                              cache)
            feats = self.convs[1:](feats)
        else:
            feats = self.convs(shared_transform_inputs(self, inputs, cache))
        if self.concat_input:
            x = shared_transform_inputs(self, inputs, cache)
            feats = self.conv_cat(torch.cat([x, feats], dim=1))
        return self.cls_seg(feats)
