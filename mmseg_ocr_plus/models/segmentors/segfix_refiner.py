"""Test-time SegFix: refine a segmentor's predictions in the same pass.

SegFix (Yuan et al., ECCV 2020, https://arxiv.org/abs/2007.04269) predicts
a boundary map and directions on each image; every predicted boundary pixel
then takes the label ``scale`` steps along its direction
(:func:`~mmseg_ocr_plus.utils.segfix_refinement.refine_label_map`: nearest
lookup, no label id invented). ``tools/test.py CONFIG CKPT --segfix
SEGFIX_CONFIG SEGFIX_CKPT`` wraps the config's model in
:class:`SegFixRefiner`; ``tools/segfix_refine.py`` does the same on saved
predictions.

The wrapper is a ``BaseTTAModel``, as MMSeg's ``SegTTAModel``: MMEngine's
``load_state_dict`` (``Runner.load_checkpoint``, ``load_from``) and
``CheckpointMatchHook`` load a checkpoint into the ``module`` of such a
wrapper, so ``CKPT`` is the segmentor's own checkpoint, keys unchanged. The
SegFix weights load (strictly) when the wrapper is built. The two
"augmentations" merged by :meth:`SegFixRefiner.merge_preds` are the
segmentor's prediction and SegFix's maps of the same preprocessed image.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.model import BaseTTAModel
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import SampleList
from torch import nn

from ...datasets.transforms import GenerateSegFixTargets
from ...utils.preflight import InvalidInputError
from ...utils.segfix_refinement import direction_offsets, refine_label_map
from ...utils.state_dict_check import load_weights
from .segfix import SegFix

__all__ = ['SegFixRefiner', 'normalisation', 'normalisation_mismatch']

# SegDataPreProcessor's defaults: no normalisation, no channel swap.
NORMALISATION_DEFAULTS = dict(mean=None, std=None, bgr_to_rgb=False)


def normalisation(preprocessor: Union[Mapping, nn.Module, None]) -> Dict:
    """``mean``, ``std`` and ``bgr_to_rgb`` of a data preprocessor.

    Args:
        preprocessor (Mapping | nn.Module | None): A ``SegDataPreProcessor``
            config (missing keys take its defaults) or the built module.

    Returns:
        dict: ``mean`` and ``std`` as lists of floats (or None), and
        ``bgr_to_rgb`` (True for any channel swap).
    """
    if isinstance(preprocessor, nn.Module):
        found = {
            key: getattr(preprocessor, key, None)
            for key in ('mean', 'std')
        }
        found['bgr_to_rgb'] = getattr(preprocessor, 'channel_conversion',
                                      False)
    else:
        preprocessor = preprocessor or {}
        found = {k: preprocessor.get(k, v)
                 for k, v in NORMALISATION_DEFAULTS.items()}
        found['bgr_to_rgb'] = bool(
            found['bgr_to_rgb'] or preprocessor.get('rgb_to_bgr', False))
    for key in ('mean', 'std'):
        if found[key] is not None:
            found[key] = [
                float(v) for v in torch.as_tensor(found[key]).flatten()
            ]
    found['bgr_to_rgb'] = bool(found['bgr_to_rgb'])
    return found


def normalisation_mismatch(ours: Union[Mapping, nn.Module, None],
                           theirs: Union[Mapping, nn.Module, None]
                           ) -> Optional[str]:
    """What differs between two preprocessors' normalisation, or None.

    Args:
        ours, theirs: As :func:`normalisation` takes them.

    Returns:
        str, optional: E.g. ``"std [58.4, 57.1, 57.4] vs [1.0, 1.0,
        1.0]"``; None if ``mean``, ``std`` (to 1e-6) and ``bgr_to_rgb``
        agree.
    """
    a, b = normalisation(ours), normalisation(theirs)
    differs = []
    for key in ('mean', 'std', 'bgr_to_rgb'):
        x, y = a[key], b[key]
        same = (x == y if not (isinstance(x, list) and isinstance(y, list))
                else len(x) == len(y) and torch.allclose(
                    torch.tensor(x), torch.tensor(y), rtol=0, atol=1e-6))
        if not same:
            differs.append(f'{key} {x} vs {y}')
    return '; '.join(differs) or None


@MODELS.register_module()
class SegFixRefiner(BaseTTAModel):
    """A segmentor whose ``pred_sem_seg`` is refined by a SegFix model.

    ``test_step`` preprocesses the batch once with the segmentor's data
    preprocessor, predicts with the segmentor and with SegFix on the same
    inputs, and refines each label map. Each data sample then holds:

    - ``pred_sem_seg``: the refined labels (what the evaluator, ``--out``
      and the visualizer see);
    - ``pred_sem_seg_raw``: the segmentor's labels before refinement;
    - ``seg_logits``: the segmentor's logits, unrefined.

    Args:
        module (dict | nn.Module): The segmentor (its config).
        segfix_config (str): Config file whose ``model`` is a ``SegFix``.
        segfix_checkpoint (str): Its weights, loaded strictly.
        scale (float): Offset length in pixels per direction step.
            Default: 2, the reference's.
        data_preprocessor (dict, optional): Passed to ``BaseTTAModel``
            (MMEngine's wrapper keeps it); the batches are preprocessed by
            the segmentor's own data preprocessor. Default: None.

    Raises:
        InvalidInputError: If the SegFix config's model is not a ``SegFix``
            or normalises images differently from the segmentor.
        CheckpointMismatchError: If ``segfix_checkpoint`` does not fit it.
    """

    def __init__(self,
                 module: Union[dict, nn.Module],
                 segfix_config: str,
                 segfix_checkpoint: str,
                 scale: float = 2,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(module, data_preprocessor)
        segfix_cfg = Config.fromfile(segfix_config).model
        if segfix_cfg.get('type') != 'SegFix':
            raise InvalidInputError(
                f'SegFix config {segfix_config!r}: expected model.type '
                f"'SegFix', found {segfix_cfg.get('type')!r}")
        segfix_cfg.pretrained = None  # the checkpoint has every weight
        self.segfix: SegFix = MODELS.build(segfix_cfg)
        load_weights(self.segfix, segfix_checkpoint)
        mismatch = normalisation_mismatch(self.module.data_preprocessor,
                                          self.segfix.data_preprocessor)
        if mismatch:
            raise InvalidInputError(
                f'SegFix config {segfix_config!r}: expected the data '
                "preprocessor normalisation of the segmentor's config (SegFix "
                f'runs on its inputs), found {mismatch} (segmentor vs SegFix)')
        self.scale = scale

    def test_step(self, data: dict) -> SampleList:
        """Predict, run SegFix on the same inputs, refine.

        Args:
            data (dict): A batch from the data loader (``inputs``,
                ``data_samples``).

        Returns:
            list[SegDataSample]: The segmentor's samples, refined.
        """
        data = self.module.data_preprocessor(data, False)
        inputs = data['inputs']  # [B, 3, H, W]
        samples = data['data_samples']
        fix_samples = [SegDataSample(metainfo=s.metainfo) for s in samples]
        predictions = self.module(inputs, samples, mode='predict')
        fixes = self.segfix(inputs, fix_samples, mode='predict')
        return self.merge_preds(list(zip(predictions, fixes)))

    def merge_preds(
            self, data_samples_list: List[Tuple[SegDataSample, SegDataSample]]
    ) -> SampleList:
        """Refine each segmentor prediction with its SegFix prediction.

        Args:
            data_samples_list (list[tuple]): Per image, the segmentor's
                sample (``pred_sem_seg``) and SegFix's
                (``pred_boundary_map``, ``pred_direction_map``).

        Returns:
            list[SegDataSample]: The segmentor's samples with the refined
            ``pred_sem_seg`` and the input one as ``pred_sem_seg_raw``.
        """
        ignore_index = self.segfix.decode_head.ignore_index
        refined_samples = []
        for sample, fix in data_samples_list:
            raw = sample.pred_sem_seg.data  # [1, H, W]
            offsets = direction_offsets(
                fix.pred_boundary_map.data[0].cpu().numpy(),
                fix.pred_direction_map.data[0].cpu().numpy(),
                GenerateSegFixTargets.directions, self.scale)  # [2, H, W]
            refined = refine_label_map(raw[0].cpu().numpy(), offsets,
                                       ignore_index)  # [H, W]
            sample.set_data(
                dict(
                    pred_sem_seg_raw=PixelData(data=raw),
                    pred_sem_seg=PixelData(
                        data=torch.from_numpy(refined)[None].to(raw))))
            refined_samples.append(sample)
        return refined_samples
