"""ASP-OCR head: object context as one branch of an ASPP.

Yuan, Chen, Wang, "Object-Contextual Representations for Semantic
Segmentation", ECCV 2020, https://arxiv.org/abs/1909.11065 (Sec. 4, ASP-OCR:
79.89 vs 79.63 mIoU for OCR on Cityscapes val with ResNet-101); official
code: openseg.pytorch ``lib/models/modules/spatial_ocr_block.py``
``SpatialOCR_ASP_Module``. The ASPP is that of DeepLabv3 (Chen et al.,
https://arxiv.org/abs/1706.05587) with its image-pooling branch replaced by
the object context.

Shape shorthand in this module:
    B: batch, Cin: transformed input channels, Ch: ``hidden_channels``
    (256), Ck: ``ocr_channels`` (128), C: ``channels`` (256), K: classes,
    H x W: feature size.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.cascade_decode_head import BaseCascadeDecodeHead
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils import shared_transform_inputs
from .ocr_plus_head import ObjectContextBlock, SpatialGather, resize_like


class ObjectAttention(ObjectContextBlock):
    """:class:`ObjectContextBlock` without its fuse conv: the attended
    region values after ``out_project`` (the paper's f_up), as openseg's
    ``SpatialOCR_Context`` returns them.

    Args: as :class:`ObjectContextBlock`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        del self.bottleneck  # no [context, feats] fuse in the ASP branch

    def fuse(self, context: Tensor, feats: Tensor) -> Tensor:
        """Return ``context`` ``[B, Ch, H, W]`` unchanged."""
        return context


@MODELS.register_module()
class ASPOCRHead(BaseCascadeDecodeHead):
    """ASP-OCR head of OCRNet (https://arxiv.org/abs/1909.11065).

    Five branches read the transformed backbone features, each giving
    ``hidden_channels``: the object context (3x3 ConvModule, spatial gather
    with the previous stage's logits, object attention with key width
    ``ocr_channels``), a 1x1 ConvModule and three dilated 3x3 ConvModules.
    Their concatenation goes through a 1x1 ConvModule to ``channels``; then
    ``BaseDecodeHead``'s Dropout2d (``dropout_ratio``, 0.1 in the reference)
    and classifier. A cascade stage like :class:`OCRPlusHead`: it takes the
    previous stage's logits and shares the input transform with it.

    Args:
        hidden_channels (int): Ch, channels of each branch. Defaults to 256.
        ocr_channels (int): Ck, key/query width of the object attention.
            Defaults to 128 (the reference's ``hidden_channels // 2``).
        dilations (Sequence[int]): Dilations of the 3x3 branches. Defaults
            to (12, 24, 36) (ResNet, output stride 8); the reference uses
            (24, 48, 72) for HRNet.
        gather_scale (float): Softmax temperature of the spatial gather.
            Defaults to 1.
        conv_bias (bool): Bias in every conv before a norm (the reference's
            ``nn.Conv2d`` default). Defaults to False.
        **kwargs: ``BaseDecodeHead`` arguments; ``channels`` is the output
            width of the fuse (256 in the reference).
    """

    shares_transform = True  # forward takes ``cache``

    def __init__(self,
                 hidden_channels: int = 256,
                 ocr_channels: int = 128,
                 dilations: Sequence[int] = (12, 24, 36),
                 gather_scale: float = 1.0,
                 conv_bias: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.hidden_channels = hidden_channels
        self.ocr_channels = ocr_channels
        self.dilations = tuple(dilations)

        def conv_module(in_ch: int, out_ch: int, kernel: int,
                        dilation: int = 1) -> ConvModule:
            return ConvModule(
                in_ch,
                out_ch,
                kernel,
                padding=dilation if kernel == 3 else 0,
                dilation=dilation,
                bias=conv_bias or 'auto',
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)

        self.context_conv = conv_module(self.in_channels, hidden_channels, 3)
        self.spatial_gather_module = SpatialGather(gather_scale)
        self.object_attention = ObjectAttention(
            hidden_channels,
            ocr_channels,
            conv_bias=conv_bias,
            align_corners=self.align_corners,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.aspp_convs = nn.ModuleList(
            [conv_module(self.in_channels, hidden_channels, 1)] + [
                conv_module(self.in_channels, hidden_channels, 3, d)
                for d in self.dilations
            ])
        num_branches = 1 + len(self.aspp_convs)
        self.bottleneck = conv_module(hidden_channels * num_branches,
                                      self.channels, 1)

    def forward(self,
                inputs: List[Tensor],
                prev_output: Tensor,
                cache: Optional[Dict] = None) -> Tensor:
        """Predict logits from backbone features and soft-region logits.

        Args:
            inputs (list[Tensor]): Multi-level backbone features.
            prev_output (Tensor): ``[B, K, H', W']`` soft-region logits of
                the previous stage; resized to ``H x W`` if they differ.
            cache (dict, optional): Transformed features shared by the heads
                of one forward pass (see ``shared_transform_inputs``).

        Returns:
            Tensor: ``[B, num_classes, H, W]`` logits.
        """
        x = shared_transform_inputs(self, inputs, cache)  # [B, Cin, H, W]
        feats = self.context_conv(x)  # [B, Ch, H, W]
        prev_output = resize_like(prev_output, feats, self.align_corners)
        regions = self.spatial_gather_module(feats, prev_output)  # [B,Ch,K,1]
        branches = [self.object_attention(feats, regions)]  # [B, Ch, H, W]
        branches += [conv(x) for conv in self.aspp_convs]  # 4 x [B, Ch, H, W]
        out = self.bottleneck(torch.cat(branches, dim=1))  # [B, C, H, W]
        return self.cls_seg(out)
