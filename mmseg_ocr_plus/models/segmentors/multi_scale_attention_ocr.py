"""OCRNet with hierarchical multi-scale attention (NVIDIA's ``MscaleOCR``).

Tao, Sapra, Catanzaro, "Hierarchical Multi-Scale Attention for Semantic
Segmentation", https://arxiv.org/abs/2005.10821; official code:
https://github.com/NVIDIA/semantic-segmentation (``network/ocrnet.py``).

A :class:`ScaleAttentionHead` reads the OCR head's pre-classifier features
(the input of its ``conv_seg``, after its dropout) and predicts, per pixel,
how much the prediction of its scale counts against that of the next larger
scale. Training sees two scales, inference any list of them.

Shape shorthand: B batch, K classes, H x W the input size, H_s x W_s the
input size at scale s (``floor(s * H) x floor(s * W)``), C the OCR head's
``channels``.
"""
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptSampleList, SampleList, add_prefix
from torch import Tensor, nn

from ..utils.scale_fusion import fuse_scales, resize_as
from .ocr_cascade_encoder_decoder import OCRCascadeEncoderDecoder


@contextmanager
def captured_input(module: nn.Module) -> Iterator[List[Tensor]]:
    """Collect the first positional input of every call of ``module``
    (a forward pre-hook, removed on exit)."""
    inputs: List[Tensor] = []
    handle = module.register_forward_pre_hook(
        lambda _, args: inputs.append(args[0]))
    try:
        yield inputs
    finally:
        handle.remove()


def rescale(inputs: Tensor, scale: float) -> Tensor:
    """The image at ``scale``, resized as the reference's ``ResizeX``."""
    if scale == 1.0:
        return inputs
    return F.interpolate(
        inputs,
        scale_factor=scale,
        mode='bilinear',
        align_corners=False,
        recompute_scale_factor=True)  # [B, 3, H_s, W_s]


@MODELS.register_module()
class MultiScaleAttentionOCR(OCRCascadeEncoderDecoder):
    """OCRNet whose scales are fused by learnt attention
    (https://arxiv.org/abs/2005.10821).

    Training runs the image at ``train_low_scale`` (0.5) and 1.0; the low
    scale predicts the attention ``a`` and, for the logits of every stage
    (the aux and the OCR logits, each upsampled to its scale's input size),
    ``joint = up(a * p_low) + (1 - up(a)) * p_1.0``. Losses: each stage's
    ``loss_decode`` on its joint logits (``decode_{i}.*``: the configs weigh
    the aux stage 0.4), plus ``scale_loss_weight`` times the last stage's
    loss on each scale's own logits (``scale{s}x.*``).

    Inference runs every scale of ``test_cfg.scales`` once (backbone and
    heads), largest first, and folds them as :func:`fuse_scales`;
    ``test_cfg.flip`` averages these logits with those of the flipped image
    flipped back (the reference's ``--do_flip``). Both are read at every
    call. State-dict keys: those of :class:`OCRCascadeEncoderDecoder` plus
    ``attention_head.*``.

    Args:
        attention_head (dict): Config of the attention module, e.g.
            ``dict(type='ScaleAttentionHead', channels=256)``;
            ``in_channels`` defaults to the last stage's ``channels``.
        train_low_scale (float): The low training scale. Defaults to 0.5.
        scale_loss_weight (float): Weight of the loss on each scale's own
            logits; 0 leaves it out. Defaults to 0.05.
        **kwargs: ``CascadeEncoderDecoder`` arguments. ``test_cfg`` may set
            ``scales`` (default ``[0.5, 1.0]``, 1.0 required) and ``flip``
            (default False).

    Attributes:
        record_attention (bool): Set it to True to keep the attention maps
            of every following inference in ``recorded_attention`` (a
            runtime switch for visualisation hooks). Defaults to False.
        recorded_attention (dict[float, Tensor] | None): Of the last
            inference with ``record_attention`` set: per scale after the
            largest, the detached ``[B, 1, H_s, W_s]`` attention of the
            unflipped image. ``None`` otherwise.
    """

    def __init__(self,
                 attention_head: ConfigType,
                 train_low_scale: float = 0.5,
                 scale_loss_weight: float = 0.05,
                 **kwargs) -> None:
        if kwargs.get('auxiliary_head') is not None:
            raise ValueError('Expected no auxiliary_head (the first cascade '
                             'stage is the aux head), got one')
        super().__init__(**kwargs)
        if not 0 < train_low_scale < 1:
            raise ValueError('Expected 0 < train_low_scale < 1, got '
                             f'{train_low_scale}')
        attention_head = dict(attention_head)
        attention_head.setdefault('in_channels', self.decode_head[-1].channels)
        self.attention_head = MODELS.build(attention_head)
        if self.channels_last:  # built after the base class converted
            self.attention_head.to(memory_format=torch.channels_last)
        self.train_low_scale = train_low_scale
        self.scale_loss_weight = scale_loss_weight
        self.record_attention = False
        self.recorded_attention: Optional[Dict[float, Tensor]] = None

    def scale_forward(self,
                      inputs: Tensor,
                      scale: float,
                      stages: Sequence[int],
                      with_attention: bool = True
                      ) -> Tuple[List[Tensor], Optional[Tensor]]:
        """Run the network once on the image at one scale.

        Args:
            inputs (Tensor): ``[B, 3, H, W]`` images.
            scale (float): The scale.
            stages (Sequence[int]): The stages whose logits to return.
            with_attention (bool): Also predict the attention. Defaults to
                True.

        Returns:
            tuple: The fp32 logits ``[B, K, H_s, W_s]`` of each of
            ``stages`` and the fp32 attention ``[B, 1, H_s, W_s]`` (None
            without ``with_attention``), upsampled to the scaled input.
        """
        x = rescale(inputs, scale)
        size = x.shape[2:]
        with captured_input(self.decode_head[-1].conv_seg) as feats:
            logits = self.cascade_forward(self.extract_feat(x))
        attention = None
        if with_attention:
            attention = self.attention_head(feats[-1])  # [B, 1, H/4, W/4]
            attention = resize_as(attention.float(), size)
        return [resize_as(logits[i].float(), size)
                for i in stages], attention

    def multi_scale_logits(self, inputs: Tensor) -> Tensor:
        """Logits fused over ``test_cfg.scales`` (and ``test_cfg.flip``).

        Args:
            inputs (Tensor): ``[B, 3, H, W]`` images.

        Returns:
            Tensor: ``[B, K, H, W]`` fp32 logits.
        """
        test_cfg = self.test_cfg or {}
        scales = sorted(test_cfg.get('scales', (0.5, 1.0)), reverse=True)
        if 1.0 not in scales or min(scales) <= 0:
            raise ValueError('Expected positive test_cfg.scales including '
                             f'1.0, got {scales}')
        last = len(self.decode_head) - 1

        def fused(images: Tensor) -> Tuple[Tensor, Dict[float, Tensor]]:
            preds, attentions = [], []
            for i, scale in enumerate(scales):
                # The attention of the largest scale is never used.
                logits, attention = self.scale_forward(
                    images, scale, [last], with_attention=i > 0)
                preds.append(logits[0])
                attentions.append(attention)
            used = dict(zip(scales[1:], attentions[1:]))
            return fuse_scales(preds, attentions, scales), used

        pred, attentions = fused(inputs)
        if self.record_attention:
            self.recorded_attention = {
                s: a.detach()
                for s, a in attentions.items()
            }
        if test_cfg.get('flip', False):
            pred = (fused(inputs.flip(3))[0].flip(3) + pred) / 2
        return pred

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Multi-scale logits, resized to the input image as MMSeg does."""
        return self.decode_head[-1].predict_by_feat(
            self.multi_scale_logits(inputs), batch_img_metas)

    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        """Multi-scale logits ``[B, K, H, W]`` (at the input size)."""
        return self.multi_scale_logits(inputs)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Losses of the two-scale training step.

        Args:
            inputs (Tensor): ``[B, 3, H, W]`` images.
            data_samples (list[SegDataSample]): With ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: ``decode_{i}.*`` on the joint logits of
            stage i, ``scale{s}x.*`` on the last stage's logits of scale s.
        """
        low = self.train_low_scale
        stages = range(len(self.decode_head))
        high_logits, _ = self.scale_forward(
            inputs, 1.0, stages, with_attention=False)
        low_logits, attention = self.scale_forward(inputs, low, stages)
        losses = dict()
        for i, head in enumerate(self.decode_head):
            joint = fuse_scales([high_logits[i], low_logits[i]],
                                [None, attention], [1.0, low])  # [B,K,H,W]
            losses.update(
                add_prefix(head.loss_by_feat(joint, data_samples),
                           f'decode_{i}'))
        if self.scale_loss_weight > 0:
            head, size = self.decode_head[-1], inputs.shape[2:]
            for scale, logits in ((1.0, high_logits[-1]),
                                  (low, low_logits[-1])):
                loss = head.loss_by_feat(resize_as(logits, size), data_samples)
                loss = {
                    k: v * self.scale_loss_weight if 'loss' in k else v
                    for k, v in loss.items()
                }
                losses.update(add_prefix(loss, f'scale{scale:g}x'))
        return losses
