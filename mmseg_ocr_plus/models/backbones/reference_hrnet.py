"""HRNet whose fuse layers upsample as the reference implementations do.

Wang et al., "Deep High-Resolution Representation Learning for Visual
Recognition", TPAMI 2020, https://arxiv.org/abs/1908.07919.

MMSeg's ``HRModule`` upsamples a lower-resolution branch with
``Upsample(scale_factor=2**(j - i), align_corners=False)`` and then resizes
the result to the target branch's size. The official HRNet code
(HRNet-Semantic-Segmentation, openseg.pytorch, NVIDIA
semantic-segmentation) interpolates straight to the target size, with
``align_corners=True`` (openseg, HRNet-OCR) or False (NVIDIA). The two
differ whenever ``align_corners=True`` and, for inputs whose size is not a
multiple of 32, also with False (the 2x-upsampled 9 rows are 18, resized to
17, instead of 9 -> 17). :class:`ReferenceHRNet` computes the official
function with MMSeg's modules and state-dict keys.
"""
from typing import List

import torch.nn.functional as F
from mmengine.model import Sequential
from mmseg.models.backbones import HRNet
from mmseg.models.backbones.hrnet import HRModule
from mmseg.models.backbones.resnet import BasicBlock
from mmseg.registry import MODELS
from torch import Tensor, nn


class ReferenceHRModule(HRModule):
    """``HRModule`` whose upsampling fuse paths interpolate straight to the
    target branch's size.

    Args:
        *args: ``HRModule`` arguments.
        align_corners (bool): Of the bilinear fuse upsampling. Defaults to
            False.
        **kwargs: ``HRModule`` keyword arguments.
    """

    def __init__(self, *args, align_corners: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.align_corners = align_corners
        for i, fuse_layer in enumerate(self.fuse_layers or []):
            for j in range(i + 1, len(fuse_layer)):
                # [conv1x1, norm, Upsample]: the Upsample holds no weights,
                # so an Identity in its place keeps the state-dict keys.
                fuse_layer[j][2] = nn.Identity()

    def forward(self, x: List[Tensor]) -> List[Tensor]:
        """Run the branches and fuse them.

        Args:
            x (list[Tensor]): ``[B, C_i, H_i, W_i]`` per branch.

        Returns:
            list[Tensor]: The fused ``[B, C_i, H_i, W_i]`` per output branch.
        """
        if self.num_branches == 1:
            return [self.branches[0](x[0])]
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        x_fuse = []
        for i, fuse_layer in enumerate(self.fuse_layers):
            y = 0
            for j in range(self.num_branches):
                if i == j:
                    y = y + x[j]
                elif j > i:
                    y = y + F.interpolate(
                        fuse_layer[j](x[j]),
                        size=x[i].shape[2:],
                        mode='bilinear',
                        align_corners=self.align_corners)
                else:
                    y = y + fuse_layer[j](x[j])
            x_fuse.append(self.relu(y))
        return x_fuse


@MODELS.register_module()
class ReferenceHRNet(HRNet):
    """MMSeg's ``HRNet`` with the official fuse-layer upsampling.

    Same layers and state-dict keys as ``HRNet``; every ``HRModule`` is a
    :class:`ReferenceHRModule`.

    Args:
        align_corners (bool): Of the fuse upsampling: True for openseg.pytorch
            and HRNet-OCR checkpoints, False for NVIDIA's. Defaults to False.
        **kwargs: ``HRNet`` arguments (``extra``, ``norm_cfg``, ...).
    """

    def __init__(self, align_corners: bool = False, **kwargs) -> None:
        self.align_corners = align_corners  # read by _make_stage
        super().__init__(**kwargs)

    def _make_stage(self, layer_config, in_channels, multiscale_output=True):
        """Build a stage of :class:`ReferenceHRModule` as ``HRNet`` builds
        one of ``HRModule`` (same arguments, same initialisation)."""
        block = self.blocks_dict[layer_config['block']]
        block_init_cfg = None
        if self.pretrained is None and not hasattr(
                self, 'init_cfg') and self.zero_init_residual:
            last_norm = 'norm2' if block is BasicBlock else 'norm3'
            block_init_cfg = dict(
                type='Constant', val=0, override=dict(name=last_norm))
        num_modules = layer_config['num_modules']
        modules = []
        for i in range(num_modules):
            modules.append(
                ReferenceHRModule(
                    layer_config['num_branches'],
                    block,
                    layer_config['num_blocks'],
                    in_channels,
                    layer_config['num_channels'],
                    # only the last module may drop the low branches
                    multiscale_output or i < num_modules - 1,
                    with_cp=self.with_cp,
                    norm_cfg=self.norm_cfg,
                    conv_cfg=self.conv_cfg,
                    block_init_cfg=block_init_cfg,
                    align_corners=self.align_corners))
            in_channels = modules[-1].in_channels
        return Sequential(*modules), in_channels
