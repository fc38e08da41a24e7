"""A conv of bilinearly upsampled features with the channel mixing at their
own (low) resolution (used by :mod:`.lowres_conv`).

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
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

# Output rows per block of the banded resampling products: a block of 64
# rows upsampled 4x reads 16 + 3 input rows (one per side for the shifts and
# the bilinear neighbour).
BLOCK = 64


@lru_cache(maxsize=64)  # bounded: one entry per (size, kernel) seen
def resampling_matrices(
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
        return _build_resampling_matrices(n_in, n_out, k, align_corners)


def _build_resampling_matrices(n_in: int, n_out: int, k: int,
                               align_corners: bool) -> Tuple:
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


def add_upsampled_conv(base: Optional[Tensor], x: Tensor, weight: Tensor,
                        size: Tuple[int, int], align_corners: bool) -> Tensor:
    """``base + conv(up(x))``, ``[B, Co, H, W]`` channels-last: ``base``
    (channels-last, updated in place) or None."""
    B, C, h, w = x.shape
    Co, k = weight.shape[0], weight.shape[-1]
    H, W = size
    ry, blocks_y = resampling_matrices(h, H, k, align_corners)
    rx, blocks_x = resampling_matrices(w, W, k, align_corners)
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
    return add_upsampled_conv(None, x, weight, size, align_corners)
