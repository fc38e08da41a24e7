"""A conv over ``resize_concat`` features, with the upsampled levels mixed at
their own (low) resolution.

OCRNet's heads on HRNet read ``cat([x0, up2(x1), up4(x2), up8(x3)])``, where
``up`` is bilinear resizing, and start with a conv over it: the OCR head's
3x3 conv (270 -> 512 channels at 1/4 resolution for HRNet-W18, the largest
layer of the model) and the aux head's 1x1 conv. A conv is linear, so it
splits over the concatenated levels, and for one level and a k x k kernel

    conv(up(x))[p] = sum_t W_t up(x)[p + t] = sum_t up(W_t x)[p + t]

because the tap ``W_t`` (``Cout x Cin``) mixes channels and ``up`` mixes the
positions of each channel alone. Both ``up`` and the shift by ``t`` are
separable, so

    conv(up(x)) = sum_{ty, tx} Ry[ty] (W_{ty,tx} x) Rx[tx]^T

with ``R[t]`` the ``[H, h]`` matrix of bilinear weights shifted by ``t``
(zero rows where ``p + t`` falls into the conv's zero padding): exact at the
border too. The channel mixing runs on ``s*s`` times fewer pixels; the two
resampling products are matrix products whose banded matrices are cut into
blocks so that each block reads only the rows it needs.

Shape shorthand: B batch, C / Co input / output channels, h x w a level's
size, H x W the output size, k the kernel size.
"""
from functools import lru_cache
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conv_module import norm_act
from .shared_transform import shared_resize_concat

# Output rows per block of the banded resampling products: a block of 64
# rows upsampled 4x reads 16 + 3 input rows (one per side for the shifts and
# the bilinear neighbour).
BLOCK = 64
# A level is mixed at its own resolution when that costs at most this
# fraction of the direct conv's multiply-adds (the resampling products run
# below the conv's FLOP rate). Measured on a 2-core AVX-512 CPU (torch 2.13),
# fp32, batch 2, HRNet-W18 levels at 512x1024 into the 3x3 conv to 512
# channels, split against direct, forward / forward + backward: the 8x level
# 80 / 174 ms against 291 / 996 ms, the 4x level 136 / 292 against 159 /
# 559, the 2x level 310 / 666 against 96 / 333; this threshold takes the 8x
# (cost 0.04) and 4x (0.20) levels and leaves the 2x level (1.02).
MAX_COST = 0.4


@lru_cache(maxsize=64)  # bounded: one entry per (size, kernel) seen
def _resampling(
    n_in: int, n_out: int, k: int, align_corners: bool
) -> Tuple[Tensor, Tuple[Tuple[int, int, int, int], ...]]:
    """The shifted resampling matrices of one axis and their nonzero blocks.

    Args:
        n_in (int): Input length h.
        n_out (int): Output length H.
        k (int): Odd kernel size; shifts ``-(k // 2) .. k // 2``.
        align_corners (bool): Of the bilinear resize.

    Returns:
        tuple: ``R`` ``[H, h, k]`` float64 with ``R[p, i, t]`` the weight of
        input ``i`` at output ``p + t - k // 2`` (0 outside ``[0, H)``), and
        ``(r0, r1, c0, c1)`` blocks of ``BLOCK`` output rows with the range
        of input rows ``i`` they read (for any ``t``).
    """
    # ordinary tensors even when first called under inference_mode: they
    # are saved for backward by later calls
    with torch.inference_mode(False):
        return _build_resampling(n_in, n_out, k, align_corners)


def _build_resampling(n_in: int, n_out: int, k: int, align_corners: bool
                      ) -> Tuple[Tensor, Tuple[Tuple[int, int, int, int],
                                               ...]]:
    eye = torch.eye(n_in, dtype=torch.float64).unsqueeze(0)  # [1, h, h]
    up = F.interpolate(eye,
                       size=n_out,
                       mode='linear',
                       align_corners=align_corners)[0].T  # [H, h]
    pad = k // 2
    up = F.pad(up, (0, 0, pad, pad))  # zero rows: the conv's padding
    taps = torch.stack([up[t:t + n_out] for t in range(k)], 2)  # [H, h, k]
    blocks = []
    for r0 in range(0, n_out, BLOCK):
        r1 = min(r0 + BLOCK, n_out)
        used = taps[r0:r1].abs().sum((0, 2)).nonzero()
        c0, c1 = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 0)
        blocks.append((r0, r1, c0, c1))
    return taps, tuple(blocks)


def _blocks_over(blocks: Tuple, k: int) -> Tuple:
    """Blocks over input rows ``i`` -> blocks over the ``(i, t)`` columns of
    a ``[H, h * k]`` matrix."""
    return tuple((r0, r1, c0 * k, c1 * k) for r0, r1, c0, c1 in blocks)


class Resample(torch.autograd.Function):
    """The resampling half of :func:`upsampled_conv`, added to ``base`` in
    place:

        z[ty] = Rx @ y[ty]        (the width; rows (j, tx) -> W)
        out = base + Ry @ z       (the height; rows (i, ty) -> H)

    Every product writes into a preallocated buffer (no per-block or
    per-tap temporaries: at 1/4 resolution the output is the largest tensor
    of the head) and reads only the nonzero column range of each block of
    ``BLOCK`` output rows. Runs in the dtype of ``ys`` (autocast off
    inside); the matrices are constants.

    Args (of ``apply``):
        ry (Tensor): ``[H, h * k]``, columns ``(i, ty)``.
        blocks_y (tuple): Its ``(r0, r1, c0, c1)`` blocks.
        rx (Tensor): ``[W, w * k]``, columns ``(j, tx)``.
        blocks_x (tuple): Its blocks.
        base (Tensor | None): ``[B, Co, H, W]`` channels-last, overwritten
            (a fresh intermediate that autograd does not keep, such as a
            conv's output).
        *ys (Tensor): k tensors ``[B * h, w * k, Co]``, rows ``(j, tx)``, the
            channel mixing of tap row ``ty``.

    Returns:
        Tensor: ``[B, Co, H, W]`` channels-last, ``base`` if given.
    """

    @staticmethod
    def forward(ctx, ry, blocks_y, rx, blocks_x, base, *ys):
        k = len(ys)
        N, _, Co = ys[0].shape
        H, W = ry.shape[0], rx.shape[0]
        h = ry.shape[1] // k
        B = N // h
        z = ys[0].new_empty(N, k, W, Co)
        if base is None:
            base = torch.empty((B, Co, H, W),
                               dtype=ys[0].dtype,
                               device=ys[0].device,
                               memory_format=torch.channels_last)
            fresh = True
        else:
            fresh = False
        out = base.permute(0, 2, 3, 1).view(B, H, W * Co)  # channels-last
        with torch.autocast(ys[0].device.type, enabled=False):
            for ty, y in enumerate(ys):
                for r0, r1, c0, c1 in blocks_x:
                    torch.bmm(rx[r0:r1, c0:c1].expand(N, -1, -1),
                              y[:, c0:c1],
                              out=z[:, ty, r0:r1])
            z = z.view(B, h * k, W * Co)  # rows (i, ty)
            for b in range(B):
                for r0, r1, c0, c1 in blocks_y:
                    if fresh:
                        torch.mm(ry[r0:r1, c0:c1],
                                 z[b, c0:c1],
                                 out=out[b, r0:r1])
                    else:  # in place: no second output-sized buffer
                        o = out[b, r0:r1]
                        torch.addmm(o, ry[r0:r1, c0:c1], z[b, c0:c1], out=o)
        if not fresh:
            ctx.mark_dirty(base)
        ctx.blocks = blocks_x, blocks_y
        ctx.shapes = k, N, h, ys[0].shape[1], Co
        ctx.has_base = not fresh
        ctx.save_for_backward(ry, rx)
        return base

    @staticmethod
    def backward(ctx, grad):
        ry, rx = ctx.saved_tensors
        blocks_x, blocks_y = ctx.blocks
        k, N, h, w_k, Co = ctx.shapes
        B, W = grad.shape[0], rx.shape[0]
        base_grad = grad if ctx.has_base else None
        grad = grad.permute(0, 2, 3, 1).reshape(B, -1, W * Co)  # [B, H, W*Co]
        grad_ys = [None] * k
        if any(ctx.needs_input_grad[5:]):
            gz = grad.new_zeros(B, h * k, W * Co)
            with torch.autocast(grad.device.type, enabled=False):
                for b in range(B):
                    for r0, r1, c0, c1 in blocks_y:
                        gz[b, c0:c1].addmm_(ry[r0:r1, c0:c1].t(), grad[b,
                                                                       r0:r1])
                gz = gz.view(N, k, W, Co)
                for ty in range(k):
                    gy = grad.new_zeros(N, w_k, Co)
                    for r0, r1, c0, c1 in blocks_x:
                        gy[:, c0:c1].baddbmm_(
                            rx[r0:r1, c0:c1].t().expand(N, -1, -1), gz[:, ty,
                                                                       r0:r1])
                    grad_ys[ty] = gy
        return (None, None, None, None, base_grad, *grad_ys)


def _add_upsampled_conv(base: Optional[Tensor], x: Tensor, weight: Tensor,
                        size: Tuple[int, int], align_corners: bool) -> Tensor:
    """``base + conv(up(x))``, ``[B, Co, H, W]`` channels-last: ``base``
    (channels-last, updated in place) or None."""
    B, C, h, w = x.shape
    Co, k = weight.shape[0], weight.shape[-1]
    H, W = size
    ry, blocks_y = _resampling(h, H, k, align_corners)
    rx, blocks_x = _resampling(w, W, k, align_corners)
    rows = x.permute(0, 2, 3, 1).reshape(B * h * w, C)
    ys = []
    for ty in range(k):  # the channel mixing, [B*h*w, C] @ [C, k*Co]
        taps = weight[:, :, ty].permute(1, 2, 0).reshape(C, k * Co)
        ys.append(torch.matmul(rows, taps).view(B * h, w * k, Co))
    dtype = ys[0].dtype  # the resampling in the mixing's (autocast) dtype
    if base is not None and base.dtype != dtype:
        base = base.to(dtype)
    return Resample.apply(
        ry.reshape(H, h * k).to(ys[0]), _blocks_over(blocks_y, k),
        rx.reshape(W, w * k).to(ys[0]), _blocks_over(blocks_x, k), base, *ys)


def upsampled_conv(x: Tensor,
                   weight: Tensor,
                   size: Tuple[int, int],
                   align_corners: bool = False) -> Tensor:
    """``conv2d(resize(x, size), weight, padding=k // 2)``, exactly, with the
    channel mixing at ``x``'s resolution.

    Args:
        x (Tensor): ``[B, C, h, w]``.
        weight (Tensor): ``[Co, C, k, k]``, k odd (stride 1, no dilation).
        size (tuple[int, int]): ``(H, W)`` of the bilinear resize.
        align_corners (bool): Of the resize. Defaults to False.

    Returns:
        Tensor: ``[B, Co, H, W]``, channels-last in memory.
    """
    return _add_upsampled_conv(None, x, weight, size, align_corners)


def lowres_macs(h: int, w: int, size: Tuple[int, int],
                k: int) -> Tuple[int, int]:
    """Multiply-adds of :func:`upsampled_conv` per image and output channel:
    ``(channel mixing per input channel, the two resampling products)``."""
    H, W = size
    _, blocks_y = _resampling(h, H, k, False)
    _, blocks_x = _resampling(w, W, k, False)
    width = sum((r1 - r0) * (c1 - c0) * k for r0, r1, c0, c1 in blocks_x)
    height = sum((r1 - r0) * (c1 - c0) * k for r0, r1, c0, c1 in blocks_y)
    return h * w * k * k, k * h * width + W * height


def pays_at_low_resolution(level: Tensor, size: Tuple[int, int],
                           conv: nn.Conv2d) -> bool:
    """Whether mixing ``level`` at its resolution costs at most
    ``MAX_COST`` of the direct conv's multiply-adds."""
    h, w = level.shape[2:]
    if (h, w) == tuple(size):
        return False
    c, k = level.shape[1], conv.kernel_size[0]
    per_channel, rest = lowres_macs(h, w, size, k)
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
    square kernel (what :func:`upsampled_conv` computes)."""
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
    split = [pays_at_low_resolution(lvl, size, conv) for lvl in levels]
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
            out = _add_upsampled_conv(out, level, weight, size, align_corners)
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
