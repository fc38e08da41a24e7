"""A cascade segmentor that runs every decode stage once per forward.

MMSeg's ``CascadeEncoderDecoder`` runs ``decode_head[0]`` twice per training
step (once inside its ``loss``, once more to feed stage 1) and every head
repeats the ``resize_concat`` of the backbone features. This subclass keeps
MMSeg's modules and state-dict keys (``decode_head.0``, ``decode_head.1``),
runs each stage once, feeds the next stage the very logits tensor (with its
gradient) that the previous stage's loss sees, and transforms the backbone
features once per distinct input transform.

With ``channels_last=True`` the weights and the input images are kept in
channels-last memory format for training and testing: on CPU, oneDNN then
convolves without reordering every activation, and the OCR head reads its
features as ``[B, N, C]`` matrices (HRNet-W18, 2 cores, fp32: see the
README's training benchmark).
"""
from typing import Dict, List, Sequence

import torch
from mmseg.models.segmentors import CascadeEncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import OptSampleList, SampleList, add_prefix
from torch import Tensor


@MODELS.register_module()
class OCRCascadeEncoderDecoder(CascadeEncoderDecoder):
    """Cascade encoder-decoder with a single pass through each stage.

    Heads with ``shares_transform = True`` (the heads of this package) get
    a ``cache`` through which heads with the same ``input_transform``,
    ``in_index`` and ``align_corners`` share one transform of the backbone
    features; other heads are called as MMSeg calls them.

    Args:
        channels_last (bool): Weights and inputs in channels-last memory
            format. Loading a checkpoint keeps the format (parameters are
            copied into in place). Defaults to False.
        with_cp_modules (Sequence[str]): Submodules (e.g.
            ``['backbone.layer1']``, HRNet's first stage at 1/4 resolution)
            whose residual blocks recompute their forward in the backward
            pass instead of keeping their activations: MMSeg's ``with_cp``
            for these blocks only (the backbone's own ``with_cp`` turns it
            on everywhere). As with ``with_cp``, a recomputed block's
            BatchNorm updates its running statistics a second time with the
            same batch. Defaults to ().
        **kwargs: As MMSeg's ``CascadeEncoderDecoder``.

    Raises:
        ValueError: If a name in ``with_cp_modules`` is not a submodule, or
            holds no block with a ``with_cp`` switch.
    """

    def __init__(self,
                 channels_last: bool = False,
                 with_cp_modules: Sequence[str] = (),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)
        modules = dict(self.named_modules())
        for name in with_cp_modules:
            module = modules.get(name)
            blocks = [] if module is None else [
                m for m in module.modules() if hasattr(m, 'with_cp')
            ]
            if not blocks:
                raise ValueError(
                    f'with_cp_modules: expected submodules with residual '
                    f'blocks (with_cp), got {name!r}')
            for block in blocks:
                block.with_cp = True

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Backbone (and neck) features; channels-last inputs if set."""
        if self.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return super().extract_feat(inputs)

    def cascade_forward(self, x: List[Tensor]) -> List[Tensor]:
        """Run every stage once.

        Args:
            x (list[Tensor]): Multi-level backbone (neck) features.

        Returns:
            list[Tensor]: The logits of each stage, ``[B, K, H, W]`` each.
        """
        cache: Dict = {}
        outputs: List[Tensor] = []
        for head in self.decode_head:
            prev = outputs[-1:]  # [] for the first stage
            if getattr(head, 'shares_transform', False):
                outputs.append(head(x, *prev, cache=cache))
            else:
                outputs.append(head(x, *prev))
        return outputs

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Logits of the last stage, resized to the input image."""
        x = self.extract_feat(inputs)
        logits = self.cascade_forward(x)[-1]
        return self.decode_head[-1].predict_by_feat(logits, batch_img_metas)

    def _decode_head_forward_train(self, inputs: List[Tensor],
                                   data_samples: SampleList) -> dict:
        """Losses of every stage from a single forward of each."""
        losses = dict()
        all_logits = self.cascade_forward(inputs)
        for i, (head, logits) in enumerate(zip(self.decode_head, all_logits)):
            loss = head.loss_by_feat(logits, data_samples)
            losses.update(add_prefix(loss, f'decode_{i}'))
        return losses

    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        """Last-stage logits ``[B, K, H/4, W/4]`` (HRNet) without resizing."""
        return self.cascade_forward(self.extract_feat(inputs))[-1]
