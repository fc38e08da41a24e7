"""Transform backbone features once per forward for all cascade heads."""
from typing import Dict, List, Optional, Tuple

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
