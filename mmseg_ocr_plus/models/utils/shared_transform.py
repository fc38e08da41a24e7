"""Transform backbone features once per forward for all cascade heads."""
from typing import Dict, List, Optional, Tuple

import torch
from mmseg.models.utils import resize
from torch import Tensor, nn


def transform_key(head: nn.Module) -> Tuple:
    """What decides the output of ``BaseDecodeHead._transform_inputs``."""
    in_index = head.in_index
    if isinstance(in_index, list):
        in_index = tuple(in_index)
    return head.input_transform, in_index, head.align_corners


def shared_transform_inputs(head: nn.Module, inputs: List[Tensor],
                            cache: Optional[Dict[Tuple, Tensor]]) -> Tensor:
    """``head._transform_inputs(inputs)``, memoised in ``cache``.

    Args:
        head (BaseDecodeHead): The head whose transform to apply.
        inputs (list[Tensor]): Multi-level backbone features.
        cache (dict, optional): Shared by the heads of one forward pass;
            None transforms without memoising.
    """
    if cache is None:
        return head._transform_inputs(inputs)
    key = transform_key(head)
    if key not in cache:
        cache[key] = head._transform_inputs(inputs)
    return cache[key]


def shared_resize_concat(head: nn.Module, inputs: List[Tensor],
                         cache: Optional[Dict[Tuple, Tensor]],
                         selected: Tuple[int, ...]) -> Tensor:
    """The ``resize_concat`` transform of only the ``selected`` levels
    (positions in ``head.in_index``), memoised in ``cache``; all levels give
    ``shared_transform_inputs``.

    Args:
        head (BaseDecodeHead): A head with ``input_transform ==
            'resize_concat'``.
        inputs (list[Tensor]): Multi-level backbone features.
        cache (dict, optional): Shared by the heads of one forward pass.
        selected (tuple[int]): Increasing positions in ``head.in_index``.

    Returns:
        Tensor: ``[B, sum C_i, H, W]``, the selected levels resized (as
        MMSeg's ``BaseDecodeHead._transform_inputs`` does) to the size of
        the first level of ``in_index`` and concatenated.
    """
    if tuple(selected) == tuple(range(len(head.in_index))):
        return shared_transform_inputs(head, inputs, cache)
    key = transform_key(head) + (tuple(selected), )
    if cache is None or key not in cache:
        size = inputs[head.in_index[0]].shape[2:]
        x = torch.cat([
            resize(
                inputs[head.in_index[i]],
                size=size,
                mode='bilinear',
                align_corners=head.align_corners) for i in selected
        ], 1)
        if cache is None:
            return x
        cache[key] = x
    return cache[key]
