"""The SegFix segmentor: an encoder-decoder whose outputs are a boundary map
and a direction map instead of a segmentation.

SegFix (Yuan et al., ECCV 2020, https://arxiv.org/abs/2007.04269) refines
the boundaries of any segmentation with these maps; see
:func:`mmseg_ocr_plus.utils.segfix_refinement.refine_label_map`.
"""
from __future__ import annotations

from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

__all__ = ['SegFix']


@MODELS.register_module()
class SegFix(EncoderDecoder):
    """``EncoderDecoder`` with a ``SegFixHead``; prediction writes
    ``pred_boundary_map`` and ``pred_direction_map``.

    Training is ``EncoderDecoder``'s (the head's losses). At inference the
    head's ``[B, 2 + D, H, W]`` logits are split; each part is cropped,
    resized to the original image and arg-maxed as MMSeg does for a
    segmentation. Horizontally flipped inputs (test-time augmentation) are
    not supported: a flip would also have to mirror the direction bins.

    Args:
        **kwargs: ``EncoderDecoder``'s arguments; ``decode_head`` is a
            ``SegFixHead``.
    """

    def postprocess_result(self,
                           seg_logits: Tensor,
                           data_samples: OptSampleList = None) -> SampleList:
        """Split the logits into the two predictions.

        Args:
            seg_logits (Tensor): ``[B, 2 + D, H, W]``.
            data_samples (list[SegDataSample], optional): The inputs'
                samples.

        Returns:
            list[SegDataSample]: Each with ``pred_boundary_map`` (``[1, H,
            W]``, 1 on a boundary, i.e. boundary probability > 0.5),
            ``pred_direction_map`` (``[1, H, W]`` bins in ``0..D-1``),
            ``boundary_logits`` and ``direction_logits``; ``pred_sem_seg``
            and ``seg_logits`` are the boundary ones.
        """
        num_directions = seg_logits.shape[1] - 2
        boundary, direction = seg_logits.split([2, num_directions], dim=1)
        data_samples = super().postprocess_result(direction, data_samples)
        directions = [(s.pred_sem_seg, s.seg_logits) for s in data_samples]
        data_samples = super().postprocess_result(boundary, data_samples)
        for sample, (pred, logits) in zip(data_samples, directions):
            sample.set_data(
                dict(
                    pred_direction_map=pred,
                    direction_logits=logits,
                    pred_boundary_map=PixelData(data=sample.pred_sem_seg.data),
                    boundary_logits=sample.seg_logits))
        return data_samples
