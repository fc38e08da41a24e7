"""A 3x3 conv over ``resize_concat`` features, with the upsampled levels
convolved at their own (low) resolution.

OCRNet's heads on HRNet read ``cat([x0, up2(x1), up4(x2), up8(x3)])``, where
``up_s`` is bilinear upsampling by ``s`` (``align_corners=False``), and the
OCR head's first layer is a 3x3 conv over it: the largest layer of the model
(270 -> 512 channels at 1/4 resolution for HRNet-W18). The conv is linear, so
it splits over the concatenated levels, and for one level

    conv3x3(up_s(x))[p] = sum_t W_t up_s(x)[p + t]
                        = sum_t up_s(W_t x)[p + t]

because ``W_t`` (one 3x3 tap, ``Cout x Cin``) mixes channels and ``up_s``
mixes positions of each channel alone. The channel mixing ``W_t x`` thus runs
on ``s*s`` times fewer pixels; what remains is, for each output channel, a
fixed 3x3 filter over the low-resolution taps for each of the ``s*s``
sub-pixel phases (the bilinear weights of the shifted positions), which costs
``81`` multiply-adds per output pixel and channel instead of ``9 * Cin``.

Exact (identical math, floating-point rounding aside) for interior pixels:
bilinear upsampling clamps at the image border, which replicate padding of
the low-resolution taps reproduces. Only the conv's zero padding at the
high-resolution border differs, so the outermost rows and columns are
recomputed directly from the concatenated features.

Shape shorthand: B batch, Cin / Cout channels, h x w a level's size,
H x W = s*h x s*w the output size, T = 9 taps, P = s*s phases.
"""
from functools import lru_cache
from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Levels upsampled by less than this are convolved at full resolution. On a
# 2-core AVX-512 CPU (torch 2.13, oneDNN) the low-resolution path of one
# HRNet-W18 level at 512x1024, batch 2, Cout 512, forward + backward took
# 1.44 s against 2.60 s direct for s = 8, but 2.06 s against 1.72 s for
# s = 4: the phase filters run as small convolutions with 9 input channels,
# far below the conv's peak FLOP rate.
MIN_SCALE = 8


@lru_cache(maxsize=None)
def _phase_filters_cpu(s: int) -> Tensor:
    """``[P, T, 3, 3]`` filters: the weight of low-resolution neighbour
    ``(dy, dx)`` (after replicate padding) in ``up_s(y_t)[s*q + r + t]``."""
    r = torch.arange(s, dtype=torch.float64)[:, None, None]  # phase
    t = torch.arange(-1, 2, dtype=torch.float64)[None, :, None]  # tap
    o = torch.arange(-1, 2, dtype=torch.float64)[None, None, :]  # neighbour
    # source coordinate of output s*q + r + t, relative to q (PyTorch's
    # align_corners=False mapping), and its triangle weight on q + o
    f = (r + t + 0.5) / s - 0.5
    k1 = (1 - (f - o).abs()).clamp(min=0)  # [s, 3, 3]: phase, tap, offset
    k2 = torch.einsum('aid,bje->abijde', k1, k1)  # [s, s, 3, 3, 3, 3]
    return k2.reshape(s * s, 9, 3, 3).float()


def phase_filters(s: int, ref: Tensor) -> Tensor:
    return _phase_filters_cpu(s).to(device=ref.device, dtype=ref.dtype)


def conv3x3_upsampled(x: Tensor, weight: Tensor, s: int) -> Tensor:
    """``conv3x3(up_s(x), weight)`` for all but the outermost rows/columns.

    Args:
        x (Tensor): ``[B, Cin, h, w]`` low-resolution features.
        weight (Tensor): ``[Cout, Cin, 3, 3]`` conv weight (no bias).
        s (int): Integer upsampling factor.

    Returns:
        Tensor: ``[B, Cout, s*h, s*w]``; border rows and columns are not
        the zero-padded conv's (the caller replaces them).
    """
    B, _, h, w = x.shape
    cout = weight.shape[0]
    taps = weight.permute(0, 2, 3, 1).reshape(cout * 9, -1, 1, 1)
    # NCHW (a channels-last x is small): the phase filters read 9 taps
    y = F.conv2d(x.contiguous(), taps)  # [B, Cout*T, h, w], channel c*T+t
    y = F.pad(y.view(B * cout, 9, h, w), (1, 1, 1, 1), mode='replicate')
    out = F.conv2d(y, phase_filters(s, y))  # [B*Cout, P, h, w]
    return F.pixel_shuffle(out, s).view(B, cout, s * h, s * w)


def integer_scale(level: Tensor, size: torch.Size) -> int:
    """The upsampling factor from ``level`` to ``size``; 0 if not integral
    and equal on both axes."""
    h, w = level.shape[2:]
    if size[0] % h or size[1] % w or size[0] // h != size[1] // w:
        return 0
    return size[0] // h


def resize_concat_conv3x3(levels: List[Tensor], concat: Tensor,
                          conv: nn.Conv2d) -> Tensor:
    """``conv(concat)`` where ``concat = cat([resize(l) for l in levels])``.

    Args:
        levels (list[Tensor]): ``[B, C_i, h_i, w_i]`` features, resized
            bilinearly (``align_corners=False``) to the first one's size and
            concatenated into ``concat``.
        concat (Tensor): ``[B, sum C_i, H, W]``.
        conv (nn.Conv2d): 3x3, stride 1, padding 1, no dilation or groups.

    Returns:
        Tensor: ``[B, Cout, H, W]``, equal to ``conv(concat)``.
    """
    # Traced or exported graphs get the plain conv: a trace would freeze
    # the sizes and the split into levels.
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return conv(concat)
    size = concat.shape[2:]
    weight = conv.weight
    direct_channels, parts, start = [], [], 0
    for level in levels:
        c = level.shape[1]
        s = integer_scale(level, size)
        if s >= MIN_SCALE:
            parts.append(conv3x3_upsampled(level, weight[:, start:start + c],
                                           s))
        else:
            direct_channels.append(slice(start, start + c))
        start += c
    if not parts or size[0] < 3 or size[1] < 3:
        return conv(concat)
    out = parts[0]
    for part in parts[1:]:
        out = out + part
    if not concat.is_contiguous():  # channels-last: as the direct conv's
        out = out.contiguous(memory_format=torch.channels_last)
    if direct_channels:
        idx = torch.cat([
            torch.arange(sl.start, sl.stop, device=concat.device)
            for sl in direct_channels
        ])
        out = out + F.conv2d(concat[:, idx], weight[:, idx], padding=1)
    if conv.bias is not None:
        out = out + conv.bias.view(1, -1, 1, 1)
    # the zero padding of the full-resolution conv: recompute the border
    # (on NCHW strips: one layout for input and weight)
    weight, bias = weight.contiguous(), conv.bias

    def border(strip: Tensor, pad: tuple) -> Tensor:
        return F.conv2d(F.pad(strip.contiguous(), pad), weight, bias)

    out[:, :, 0:1] = border(concat[:, :, :2], (1, 1, 1, 0))
    out[:, :, -1:] = border(concat[:, :, -2:], (1, 1, 0, 1))
    out[:, :, :, 0:1] = border(concat[:, :, :, :2], (1, 0, 1, 1))
    out[:, :, :, -1:] = border(concat[:, :, :, -2:], (0, 1, 1, 1))
    return out
