"""OCR head: object-contextual representations.

Yuan, Chen, Wang, "Object-Contextual Representations for Semantic
Segmentation", ECCV 2020, https://arxiv.org/abs/1909.11065; official code:
https://github.com/openseg-group/openseg.pytorch.

With default options the layers and state-dict keys equal MMSeg's ``OCRHead``
so MMSeg model-zoo checkpoints load unchanged and give the same logits. On top
of MMSeg it offers the reference options (conv biases, a gather temperature
separate from the query pooling, query pooling that works) and computes the
same function with less work:

* the linear part of ``out_project`` (the paper's f_up) is applied to the K
  region values before the attention product instead of to every pixel;
  exact, because every attention row sums to one (a conv bias passes
  through unchanged);
* the fuse conv runs on ``context`` and ``feats`` separately and sums the two
  halves instead of concatenating them, which saves a ``[B, 2C, H, W]``
  buffer;
* the per-pixel 1x1 convs (query projection, fuse) run as batched matrix
  products, which skips oneDNN's layout reorders on CPU (measured there;
  on CUDA they run as cuBLAS products, not timed here)
  (:mod:`~mmseg_ocr_plus.models.utils.pointwise_conv`);
* optionally (``lowres_bottleneck``), on ``resize_concat`` inputs (HRNet),
  the 3x3 conv before the OCR block mixes the channels of the 4x- and
  8x-upsampled levels at their own resolution
  (:func:`~mmseg_ocr_plus.models.utils.resize_concat_conv`), and never
  upsamples them;
* both softmaxes run in fp32 under autocast;
* channels-last features (``prepare_for_inference`` on CPU) are read as
  ``[B, N, C]`` matrices, so the gather and the attention run without a
  layout copy (the NCHW path is unchanged and keeps MMSeg zoo parity).

For visualisation (``RegionVisualizationHook``) the head can keep the soft
regions and the object attention of its last forward pass: set
``head.record_maps = True`` and read ``head.recorded_maps``. Off by default,
when nothing is kept.

Shape shorthand in this module:
    B: batch, C: ``channels`` (512), Ck: ``ocr_channels`` (256),
    K: classes, H x W: feature size, N = H * W, h x w: pooled query size.
"""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.cascade_decode_head import BaseCascadeDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils import (
    check_lowres_option,
    conv1x1,
    norm_act,
    resize_concat_conv_module,
    shared_transform_inputs,
)


def softmax_fp32(x: Tensor, dim: int, scale: float = 1.0) -> Tensor:
    """``softmax(scale * x)``, scaled and computed in fp32 (or fp64) whatever
    the autocast dtype of ``x``."""
    if x.dtype != torch.float64:
        x = x.float()
    return F.softmax(x * scale, dim=dim)


def is_channels_last(x: Tensor) -> bool:
    """Whether ``x`` is a 4-D channels-last tensor (and not also
    contiguous, as maps with one channel or 1x1 maps are)."""
    return (x.dim() == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last))


def pixel_rows(x: Tensor) -> Tensor:
    """``[B, C, H, W]`` channels-last -> ``[B, N, C]``, a view."""
    B, C = x.shape[:2]
    return x.permute(0, 2, 3, 1).reshape(B, -1, C)


def channels_last_map(rows: Tensor, h: int, w: int) -> Tensor:
    """``[B, N, C]`` -> ``[B, C, h, w]`` channels-last, a view."""
    B, _, C = rows.shape
    return rows.view(B, h, w, C).permute(0, 3, 1, 2)


def resize_like(x: Tensor, ref: Tensor, align_corners: bool) -> Tensor:
    """``x`` resized bilinearly to ``ref``'s spatial size, if it differs
    (the soft-region logits of the previous stage to the features)."""
    if x.shape[2:] == ref.shape[2:]:
        return x
    return resize(
        x, size=ref.shape[2:], mode='bilinear', align_corners=align_corners)


class SpatialGather(nn.Module):
    """Object-region representations: pixel features pooled by soft regions.

    ``regions[:, :, k] = sum_n softmax_n(scale * logits[:, k, n]) *
    feats[:, :, n]``

    Args:
        scale (float): Temperature of the softmax over positions (openseg
            ``SpatialGather_Module(scale)``). Defaults to 1.
    """

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, feats: Tensor, logits: Tensor) -> Tensor:
        """Gather K region vectors.

        Args:
            feats (Tensor): ``[B, C, H, W]`` pixel features.
            logits (Tensor): ``[B, K, H, W]`` soft-region logits.

        Returns:
            Tensor: ``[B, C, K, 1]`` region representations.
        """
        probs = softmax_fp32(logits.flatten(2), 2, self.scale)  # [B, K, N]
        probs = probs.to(feats.dtype)  # the product runs in their dtype
        if is_channels_last(feats):
            # [B, K, N] @ [B, N, C]
            regions = torch.matmul(probs, pixel_rows(feats)).transpose(1, 2)
        else:
            # [B, C, N] @ [B, N, K]
            regions = torch.matmul(feats.flatten(2), probs.transpose(1, 2))
        return regions.unsqueeze(3)  # [B, C, K, 1]


class ObjectContextBlock(nn.Module):
    """Object attention (query: pixels, key/value: regions) and fuse.

    Submodule names equal MMSeg's ``ObjectAttentionBlock``.

    Args:
        in_channels (int): C, channels of the pixel features.
        channels (int): Ck, key/query/value channels.
        query_pool (int): Max-pool the query by this factor and upsample the
            context back (bilinear) before the fuse, as the official
            ``_ObjectAttentionBlock(scale)`` does. Defaults to 1 (off).
        conv_bias (bool): Biased convs (openseg, PaddleSeg). Defaults to
            False.
        align_corners (bool): For the context upsampling. Defaults to False.
        conv_cfg, norm_cfg, act_cfg (dict, optional): ConvModule configs.

    Attributes:
        record_attention (bool): If True, ``forward`` keeps the attention in
            ``last_attention``. Defaults to False.
        last_attention (Tensor | None): ``[B, K, h, w]`` detached fp32
            attention of the last forward with ``record_attention`` set:
            ``last_attention[b, k, i, j]`` is the weight of region ``k`` for
            query position ``(i, j)`` (a softmax over ``k``). ``None``
            otherwise.
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 query_pool: int = 1,
                 conv_bias: bool = False,
                 align_corners: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = dict(type='ReLU')) -> None:
        super().__init__()
        if not (isinstance(query_pool, int) and query_pool >= 1):
            raise ValueError(
                f'query_pool must be an int >= 1, got {query_pool!r}')
        self.channels = channels
        self.query_pool = query_pool
        self.align_corners = align_corners
        self.record_attention = False
        self.last_attention: Optional[Tensor] = None

        def conv_module(in_ch: int,
                        out_ch: int,
                        layer_cfg: Optional[dict] = conv_cfg) -> ConvModule:
            return ConvModule(
                in_ch,
                out_ch,
                1,
                bias=conv_bias or 'auto',
                conv_cfg=layer_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg)

        # The per-pixel query projection as matrix products, unless the
        # config names its own conv layer.
        query_cfg = conv_cfg or dict(type='PointwiseConv2d')
        self.query_project = nn.Sequential(
            conv_module(in_channels, channels, query_cfg),
            conv_module(channels, channels, query_cfg))
        self.key_project = nn.Sequential(
            conv_module(in_channels, channels),
            conv_module(channels, channels))
        self.value_project = conv_module(in_channels, channels)
        self.out_project = conv_module(channels, in_channels)
        self.bottleneck = conv_module(in_channels * 2, in_channels)
        for module in (self.out_project, self.bottleneck):
            if module.order != ('conv', 'norm', 'act'):
                raise ValueError('Expected ConvModule order (conv, norm, '
                                 f'act), got {module.order}')

    def forward(self, feats: Tensor, regions: Tensor) -> Tensor:
        """Attend from every pixel to the K regions, then fuse.

        Args:
            feats (Tensor): ``[B, C, H, W]`` pixel features.
            regions (Tensor): ``[B, C, K, 1]`` region representations.

        Returns:
            Tensor: ``[B, C, H, W]`` object-contextual representations.
        """
        B, _, H, W = feats.shape
        query = feats
        if self.query_pool > 1:
            query = F.max_pool2d(feats, self.query_pool)  # [B, C, h, w]
        h, w = query.shape[2:]
        query = self.query_project(query)  # [B, Ck, h, w]
        key = self.key_project(regions).flatten(2)  # [B, Ck, K]
        # f_up's conv on the K values, not on the N pixels (exact: the
        # attention weights of every pixel sum to one).
        value = self.out_project.conv(self.value_project(regions))
        value = value.flatten(2)  # [B, C, K]
        scale = self.channels**-0.5
        if is_channels_last(query):
            # pixels as rows: [B, N, Ck] @ [B, Ck, K], softmax over K
            sim = softmax_fp32(torch.matmul(pixel_rows(query), key), 2, scale)
            context = torch.matmul(sim.to(value.dtype), value.transpose(1, 2))
            context = channels_last_map(context, h, w)  # [B, C, h, w]
            attention = sim.transpose(1, 2)  # [B, K, N]
        else:
            sim = torch.matmul(key.transpose(1, 2), query.flatten(2))
            sim = softmax_fp32(sim, 1, scale)  # [B, K, N]
            context = torch.matmul(value, sim.to(value.dtype))  # [B, C, N]
            context = context.view(B, -1, h, w)
            attention = sim
        if self.record_attention:
            self.last_attention = attention.detach().reshape(B, -1, h, w)
        context = norm_act(self.out_project, context)
        if self.query_pool > 1:
            context = F.interpolate(
                context, (H, W),
                mode='bilinear',
                align_corners=self.align_corners)
        return self.fuse(context, feats)

    def fuse(self, context: Tensor, feats: Tensor) -> Tensor:
        """``bottleneck(cat([context, feats]))`` without the concatenation.

        Args:
            context (Tensor): ``[B, C, H, W]``.
            feats (Tensor): ``[B, C, H, W]``.

        Returns:
            Tensor: ``[B, C, H, W]``.
        """
        conv = self.bottleneck.conv
        C = context.shape[1]
        out = conv1x1(feats, conv.weight[:, C:], conv.bias)
        out = conv1x1(context, conv.weight[:, :C], add_to=out)
        return norm_act(self.bottleneck, out)


@MODELS.register_module()
class OCRPlusHead(BaseCascadeDecodeHead):
    """OCR head of OCRNet (https://arxiv.org/abs/1909.11065).

    A 3x3 ``bottleneck`` ConvModule maps the transformed backbone features to
    C channels; :class:`SpatialGather` pools them into K region vectors with
    the previous stage's logits; :class:`ObjectContextBlock` attends and
    fuses; ``cls_seg`` classifies. ``dropout_ratio=0.05`` reproduces the
    official ``Dropout2d(0.05)`` of the fuse block: ``BaseDecodeHead``'s
    Dropout2d sits at the same place, between the fuse and the classifier.

    Args:
        ocr_channels (int): Ck, key/query/value channels (256 in every
            reference).
        gather_scale (float): Softmax temperature of the spatial gather.
            Defaults to 1.
        query_pool (int): Query pooling factor of the object attention.
            Defaults to 1. (MMSeg ties both to one ``scale`` and crashes for
            ``scale > 1``.)
        conv_bias (bool): Bias in every conv of the OCR block (openseg,
            PaddleSeg). Defaults to False (MMSeg, HRNet-OCR, NVIDIA).
        bottleneck_bias (bool): Bias in the 3x3 conv before the OCR block
            (every reference but MMSeg). Defaults to False.
        lowres_bottleneck (bool): With ``resize_concat`` inputs (HRNet),
            compute that 3x3 conv with the upsampled levels mixed at their
            own resolution where that pays (HRNet-W18: the 4x and 8x
            levels, 0.28x the multiply-adds;
            :func:`~mmseg_ocr_plus.models.utils.resize_concat_conv`), in
            fp32 on the CPU (bf16/fp16 convs and GPUs keep the direct
            conv). The same function; needs a plain conv (no
            ``conv_cfg``). Off by default: the 1e-5 zoo-parity test covers
            the default path only. Defaults to False.
        **kwargs: ``BaseDecodeHead`` arguments (``in_channels``,
            ``channels``, ``num_classes``, ``in_index``,
            ``input_transform``, ``dropout_ratio``, ``align_corners``, ...).

    Attributes:
        record_maps (bool): Set it to True to keep the maps of every
            following forward pass in ``recorded_maps`` (no extra forward,
            two detached tensors); setting it to False frees them. Not a
            constructor argument: a runtime switch for hooks. Defaults to
            False.
        recorded_maps (dict[str, Tensor] | None): Of the last forward pass
            with ``record_maps`` set, else ``None``:

            - ``soft_regions``: ``[B, K, H, W]`` the soft-region logits the
              spatial gather used (``prev_output`` resized to the features;
              as given, not normalised). The gather weights of region ``k``
              are ``softmax(gather_scale * soft_regions[:, k].flatten(1),
              1)``, a softmax over positions.
            - ``attention``: ``[B, K, h, w]`` fp32 object attention, a
              softmax over the K regions at every query position;
              ``h x w = H x W``, or ``floor(H / query_pool) x floor(W /
              query_pool)`` with query pooling.
    """

    def __init__(self,
                 ocr_channels: int,
                 gather_scale: float = 1.0,
                 query_pool: int = 1,
                 conv_bias: bool = False,
                 bottleneck_bias: bool = False,
                 lowres_bottleneck: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.ocr_channels = ocr_channels
        self.bottleneck = ConvModule(
            self.in_channels,
            self.channels,
            3,
            padding=1,
            bias=bottleneck_bias or 'auto',
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.lowres_bottleneck = lowres_bottleneck
        if lowres_bottleneck:
            check_lowres_option(self, self.bottleneck, 'lowres_bottleneck')
        self.spatial_gather_module = SpatialGather(gather_scale)
        self.object_context_block = ObjectContextBlock(
            self.channels,
            ocr_channels,
            query_pool=query_pool,
            conv_bias=conv_bias,
            align_corners=self.align_corners,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.recorded_maps: Optional[Dict[str, Tensor]] = None

    shares_transform = True  # forward takes ``cache``

    @property
    def record_maps(self) -> bool:
        """bool: Whether ``forward`` keeps its maps in ``recorded_maps``."""
        return self.object_context_block.record_attention

    @record_maps.setter
    def record_maps(self, value: bool) -> None:
        self.object_context_block.record_attention = bool(value)
        if not value:  # hold no tensors while off
            self.recorded_maps = None
            self.object_context_block.last_attention = None

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
            Tensor: ``[B, num_classes, H, W]`` logits, ``H x W`` the size of
            the transformed features.
        """
        if self.lowres_bottleneck:
            feats = resize_concat_conv_module(self, self.bottleneck, inputs,
                                              cache)
        else:
            x = shared_transform_inputs(self, inputs, cache)
            feats = self.bottleneck(x)  # [B, C, H, W]
        prev_output = resize_like(prev_output, feats, self.align_corners)
        regions = self.spatial_gather_module(feats, prev_output)
        context = self.object_context_block(feats, regions)
        if self.record_maps:
            block = self.object_context_block
            self.recorded_maps = dict(
                soft_regions=prev_output.detach(),  # [B, K, H, W] logits
                attention=block.last_attention)  # [B, K, h, w]
            block.last_attention = None
        return self.cls_seg(context)
