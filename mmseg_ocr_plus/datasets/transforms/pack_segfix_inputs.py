"""Packing for SegFix (https://arxiv.org/abs/2007.04269): MMSeg's
``PackSegInputs`` plus the targets of ``GenerateSegFixTargets``."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import to_tensor
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS

__all__ = ['PackSegFixInputs']

SEGFIX_KEYS = ('gt_boundary_map', 'gt_direction_map')


@TRANSFORMS.register_module()
class PackSegFixInputs(PackSegInputs):
    """Pack as ``PackSegInputs`` does, with SegFix's targets as PixelData.

    Required Keys:

    - img, gt_seg_map and the meta keys, as ``PackSegInputs``.
    - gt_boundary_map (np.ndarray, optional): ``[H, W]`` uint8.
    - gt_direction_map (np.ndarray, optional): ``[H, W]`` int64.

    Added Keys:

    - inputs (torch.Tensor): ``[3, H, W]``.
    - data_samples (SegDataSample): with ``gt_boundary_map`` and
      ``gt_direction_map`` (``[1, H, W]`` int64 PixelData) where the
      results held them.

    Args:
        meta_keys (Sequence[str]): As ``PackSegInputs``.
    """

    def transform(self, results: dict) -> dict:
        """Pack ``results``; see the class docstring."""
        packed = super().transform(results)
        for key in SEGFIX_KEYS:
            if key in results:
                data = to_tensor(results[key][None].astype(np.int64))
                packed['data_samples'].set_data({key: PixelData(data=data)})
        return packed
