"""The first conv of OCRNet's heads over ``resize_concat`` features (HRNet's
four levels upsampled to the first one's size and concatenated), with each
upsampled level mixed at its own resolution where that pays
(:func:`~.upsampled_conv.upsampled_conv`) and the others convolved
directly: the choice of levels, the checks, and the heads' entry point.
"""
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conv_module import norm_act
from .shared_transform import shared_resize_concat
from .upsampled_conv import add_upsampled_conv, resampling_matrices

# A level is mixed at its own resolution when that costs at most this
# fraction of the direct conv's multiply-adds (the resampling products run
# below the conv's FLOP rate). Measured on a 2-core AVX-512 CPU (torch 2.13),
# fp32, batch 2, HRNet-W18 levels at 512x1024 into the 3x3 conv to 512
# channels, split against direct, forward / forward + backward: the 8x level
# 80 / 174 ms against 291 / 996 ms, the 4x level 136 / 292 against 159 /
# 559, the 2x level 310 / 666 against 96 / 333; this threshold takes the 8x
# (cost 0.04) and 4x (0.20) levels and leaves the 2x level (1.02).
MAX_COST = 0.4


def lowres_macs(h: int,
                w: int,
                size: Tuple[int, int],
                k: int,
                align_corners: bool = False) -> Tuple[int, int]:
    """Multiply-adds of ``upsampled_conv`` per image and output channel:
    ``(channel mixing per input channel, the two resampling products)``."""
    H, W = size
    _, blocks_y = resampling_matrices(h, H, k, align_corners)
    _, blocks_x = resampling_matrices(w, W, k, align_corners)
    width = sum((r1 - r0) * (c1 - c0) * k for r0, r1, c0, c1 in blocks_x)
    height = sum((r1 - r0) * (c1 - c0) * k for r0, r1, c0, c1 in blocks_y)
    return h * w * k * k, k * h * width + W * height


def pays_at_low_resolution(level: Tensor,
                           size: Tuple[int, int],
                           conv: nn.Conv2d,
                           align_corners: bool = False) -> bool:
    """Whether mixing ``level`` at its resolution costs at most
    ``MAX_COST`` of the direct conv's multiply-adds."""
    h, w = level.shape[2:]
    if (h, w) == tuple(size):
        return False
    c, k = level.shape[1], conv.kernel_size[0]
    per_channel, rest = lowres_macs(h, w, size, k, align_corners)
    lowres = per_channel * c + rest  # per output channel
    return lowres <= MAX_COST * size[0] * size[1] * c * k * k


def direct_conv_pays(x: Tensor, conv: nn.Conv2d) -> bool:
    """Whether ``conv(x)`` runs where the split was not measured to pay:
    off the CPU, or in bf16/fp16 (weights or autocast).

    On a 2-core AMX CPU (torch 2.13), HRNet-W18 at 512x1024, batch 2, the OCR
    head's bf16 3x3 conv took 83-92 ms forward direct against 124-149 ms
    split (fp32: 462-520 against 338-354 ms). GPUs (TF32 or fp16 convs) were
    not measured.
    """
    low = (torch.bfloat16, torch.float16)
    device = x.device.type
    if device != 'cpu':
        return True
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device) in low
    return conv.weight.dtype in low or x.dtype in low


def check_conv(conv: nn.Conv2d) -> None:
    """Raise unless ``conv`` is a plain stride-1 'same' conv with an odd
    square kernel (what ``upsampled_conv`` computes)."""
    k = conv.kernel_size
    if (type(conv) is not nn.Conv2d or k[0] != k[1] or k[0] % 2 == 0
            or conv.stride != (1, 1) or conv.dilation != (1, 1)
            or conv.groups != 1 or conv.padding != (k[0] // 2, k[0] // 2)
            or conv.padding_mode != 'zeros'):
        raise ValueError(
            'Expected a plain nn.Conv2d with an odd square kernel, stride 1, '
            f'dilation 1, one group and zero "same" padding, got {conv}')


def check_lowres_option(head: nn.Module, module: nn.Module,
                        option: str) -> None:
    """Raise unless ``head`` (a ``BaseDecodeHead``) can compute ``module``
    (a ConvModule over its transformed inputs) with
    :func:`resize_concat_conv`; ``option`` names the head's argument."""
    if head.input_transform != 'resize_concat':
        raise ValueError(
            f'{option}=True needs input_transform="resize_concat" (multi-'
            f'level inputs such as HRNet\'s), got {head.input_transform!r}')
    if module.order != ('conv', 'norm', 'act'):
        raise ValueError(f'{option}=True expects ConvModule order (conv, '
                         f'norm, act), got {module.order}')
    check_conv(module.conv)


def resize_concat_conv(levels: List[Tensor],
                       conv: nn.Conv2d,
                       align_corners: bool = False,
                       concat_fn: Optional[Callable[[Tuple[int, ...]],
                                                    Tensor]] = None) -> Tensor:
    """``conv(cat([resize(l) for l in levels]))``, resized bilinearly to the
    first level's size, with the levels where it pays mixed at their own
    resolution (the others concatenated and convolved directly).

    Args:
        levels (list[Tensor]): ``[B, C_i, h_i, w_i]`` features.
        conv (nn.Conv2d): See :func:`check_conv`.
        align_corners (bool): Of the resize. Defaults to False.
        concat_fn (callable, optional): Given increasing level positions,
            returns their resized concatenation (a head passes one that
            shares it between heads, ``shared_resize_concat``). Defaults to
            computing it.

    Returns:
        Tensor: ``[B, Co, H, W]``, equal to ``conv`` of the concatenation,
        channels-last if ``levels[0]`` is.
    """
    size = tuple(levels[0].shape[2:])
    if concat_fn is None:

        def concat_fn(selected: Tuple[int, ...]) -> Tensor:
            return torch.cat([
                F.interpolate(
                    levels[i],
                    size,
                    mode='bilinear',
                    align_corners=align_corners) for i in selected
            ], 1)

    everything = tuple(range(len(levels)))
    # Traced or exported graphs get the plain conv: a trace would freeze
    # the sizes and the split into levels. So do bf16/fp16 convs, which run
    # on matrix units (AMX) at a rate the split cannot beat, and GPUs (see
    # ``direct_conv_pays``).
    if (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
            or direct_conv_pays(levels[0], conv)):
        return conv(concat_fn(everything))
    split = [
        pays_at_low_resolution(lvl, size, conv, align_corners)
        for lvl in levels
    ]
    if not any(split):
        return conv(concat_fn(everything))
    channels_last = (not levels[0].is_contiguous()
                     and levels[0].is_contiguous(
                         memory_format=torch.channels_last))
    starts = [0]
    for level in levels:
        starts.append(starts[-1] + level.shape[1])
    # the direct conv of the other levels (level 0, at the output size, at
    # least) starts the sum
    direct = tuple(i for i, s in enumerate(split) if not s)
    idx = torch.cat([torch.arange(starts[i], starts[i + 1])
                     for i in direct]).to(conv.weight.device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    out = F.conv2d(
        concat_fn(direct).contiguous(memory_format=fmt),
        conv.weight.index_select(1, idx).contiguous(memory_format=fmt),
        conv.bias,
        padding=conv.padding)
    out = out.contiguous(memory_format=torch.channels_last)
    for i, level in enumerate(levels):
        if split[i]:
            weight = conv.weight[:, starts[i]:starts[i + 1]]
            out = add_upsampled_conv(out, level, weight, size, align_corners)
    return out if channels_last else out.contiguous()


def resize_concat_conv_module(head: nn.Module, module: nn.Module,
                              inputs: List[Tensor],
                              cache: Optional[Dict]) -> Tensor:
    """A head's ``conv-norm-act`` ConvModule over its ``resize_concat``
    features, computed by :func:`resize_concat_conv`: the resized levels
    that it needs come from ``shared_resize_concat`` (shared by the heads of
    one forward pass through ``cache``), the others are never resized."""
    levels = [inputs[i] for i in head.in_index]
    out = resize_concat_conv(
        levels, module.conv, head.align_corners,
        lambda selected: shared_resize_concat(head, inputs, cache, selected))
    return norm_act(module, out)
