"""Per-pixel scale attention of hierarchical multi-scale attention.

Tao, Sapra, Catanzaro, "Hierarchical Multi-Scale Attention for Semantic
Segmentation", https://arxiv.org/abs/2005.10821; official code:
https://github.com/NVIDIA/semantic-segmentation (``make_attn_head`` in
``network/utils.py``, used by ``MscaleOCR`` in ``network/ocrnet.py``).

Shape shorthand: B batch, C ``in_channels`` (the OCR head's 512), Cb
``channels`` (256), H x W the feature size.
"""
from typing import Optional

from mmcv.cnn import ConvModule
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class ScaleAttentionHead(nn.Module):
    """How much one scale's prediction counts, per pixel, in ``[0, 1]``.

    3x3 conv C->Cb, norm, act, 3x3 conv Cb->Cb, norm, act, 1x1 conv Cb->1,
    sigmoid; no conv bias (https://arxiv.org/abs/2005.10821). The reference's
    ``scale_attn.{conv0, bn0, conv1, bn1, conv2}`` are here ``conv0.conv``,
    ``conv0.bn``, ``conv1.conv``, ``conv1.bn`` and ``conv2``.

    Args:
        in_channels (int): C, channels of the features read (the OCR head's
            pre-classifier features).
        channels (int): Cb, bottleneck channels. Defaults to 256.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict, optional): Norm layer config. Defaults to
            ``dict(type='BN')``.
        act_cfg (dict, optional): Activation config. Defaults to
            ``dict(type='ReLU')``.
    """

    def __init__(self,
                 in_channels: int,
                 channels: int = 256,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU')) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.channels = channels
        common = dict(
            kernel_size=3,
            padding=1,
            bias=False,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.conv0 = ConvModule(in_channels, channels, **common)
        self.conv1 = ConvModule(channels, channels, **common)
        self.conv2 = nn.Conv2d(channels, 1, kernel_size=1, bias=False)

    def forward(self, feats: Tensor) -> Tensor:
        """Attention of each pixel.

        Args:
            feats (Tensor): ``[B, C, H, W]`` features.

        Returns:
            Tensor: ``[B, 1, H, W]`` attention in ``[0, 1]``.
        """
        if feats.shape[1] != self.in_channels:
            raise ValueError(f'Expected {self.in_channels} channels, got '
                             f'{feats.shape[1]}')
        return self.conv2(self.conv1(self.conv0(feats))).sigmoid()
