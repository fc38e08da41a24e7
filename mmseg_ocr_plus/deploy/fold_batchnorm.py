"""Fold eval-mode BatchNorm into the convolution before it.

In eval mode ``bn(conv(x)) = s * (W x + b - mean) + beta`` with
``s = gamma / sqrt(var + eps)``: one conv with weight ``s * W`` and bias
``s * (b - mean) + beta``. The folded BN is replaced by ``nn.Identity`` in
its parent, so every forward (MMCV's ``ConvModule``, MMSeg's ResNet and
HRNet blocks, this package's heads) runs the same code, one op shorter.

Pairs are found by structure, never guessed from names alone:

* ``ConvModule`` with a norm after its conv (``order`` conv before norm);
* ``nn.Sequential`` children ``(conv, bn)`` next to each other (HRNet's
  transition and fuse layers, ResNet downsample and deep stem);
* modules that name their norms ``norm{i}_name`` and their convs
  ``conv{i}`` (MMSeg's ``BasicBlock``, ``Bottleneck``, ``HRNet`` and
  ``ResNet`` stems), whose forward is ``norm{i}(conv{i}(x))``.

The OCR block's K region-vector convs (``out_project``) fold exactly too:
the block applies their norm after the attention product, whose columns
sum to one, so a bias moved into the conv passes through unchanged.
"""
from typing import Iterator, Tuple

import torch
from mmcv.cnn import ConvModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['fold_batchnorm', 'fold_conv_bn']


def fold_conv_bn(conv: nn.Conv2d, bn: _BatchNorm) -> None:
    """Fold ``bn``'s running statistics and affine into ``conv`` in place.

    Args:
        conv (nn.Conv2d): The conv whose output ``bn`` normalises; gets a
            bias if it had none.
        bn (_BatchNorm): An eval-mode BatchNorm with running statistics.

    Raises:
        ValueError: If the channels differ or ``bn`` has no running stats.
    """
    if conv.out_channels != bn.num_features:
        raise ValueError(f'Expected a BN over the conv\'s {conv.out_channels} '
                         f'output channels, got {bn.num_features}')
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(f'Expected BN running statistics, got none in {bn}')
    with torch.no_grad():
        scale = torch.rsqrt(bn.running_var.double() + bn.eps)  # [Cout]
        if bn.weight is not None:
            scale = scale * bn.weight.double()
        bias = -bn.running_mean.double() * scale
        if bn.bias is not None:
            bias = bias + bn.bias.double()
        if conv.bias is not None:
            bias = bias + conv.bias.double() * scale
        shape = (-1, ) + (1, ) * (conv.weight.dim() - 1)
        weight = conv.weight.double() * scale.view(shape)
        conv.weight.copy_(weight.to(conv.weight.dtype))
        if conv.bias is None:
            conv.bias = nn.Parameter(
                bias.to(conv.weight.dtype), requires_grad=False)
        else:
            conv.bias.copy_(bias.to(conv.bias.dtype))


def conv_bn_pairs(model: nn.Module) -> Iterator[Tuple[nn.Module, str, str]]:
    """Yield ``(parent, conv_name, bn_name)`` for every foldable pair."""
    for parent in model.modules():
        children = dict(parent.named_children())
        if isinstance(parent, ConvModule):
            order = list(parent.order)
            if parent.with_norm and order.index('conv') < order.index('norm'):
                yield parent, 'conv', parent.norm_name
        elif isinstance(parent, nn.Sequential):
            names = list(children)
            for first, second in zip(names, names[1:]):
                yield parent, first, second
        else:
            for i in range(1, 10):
                bn_name = getattr(parent, f'norm{i}_name', None)
                if isinstance(bn_name, str) and f'conv{i}' in children:
                    yield parent, f'conv{i}', bn_name


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every eval-mode BatchNorm that follows a conv into that conv.

    Args:
        model (nn.Module): A model in eval mode; changed in place.

    Returns:
        int: The number of BatchNorm layers folded (now ``nn.Identity``).

    Raises:
        ValueError: If a BatchNorm to fold is in training mode.
    """
    pairs = []
    for parent, conv_name, bn_name in conv_bn_pairs(model):
        conv = getattr(parent, conv_name, None)
        bn = getattr(parent, bn_name, None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, _BatchNorm):
            pairs.append((parent, conv, bn_name, bn))
    for parent, conv, bn_name, bn in pairs:
        if bn.training:
            raise ValueError(f'Expected an eval-mode BatchNorm, got {bn_name}'
                             ' in training mode: call model.eval() first')
        fold_conv_bn(conv, bn)
        setattr(parent, bn_name, nn.Identity())
    return len(pairs)
