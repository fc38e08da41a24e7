"""Each official layout as a small reference model and its checkpoint file.

``build_reference(case)`` builds the reference architecture of a layout
(:mod:`reference_ocrnet`) with random weights, calibrated BN statistics and,
for InPlaceABN layouts, negative gammas; ``save_official(model, case, path)``
writes it as the released files are laid out (prefixes, nesting, extra
keys).
"""
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import torch
from reference_ocrnet import (
    HRNetV2,
    InPlaceABN,
    MscaleOCRNet,
    OCRHead,
    OCRNet,
    attention_head,
)
from torch import Tensor, nn

# Reduced widths shared by the reference models and our configs.
PLANES1, WIDTHS, MODULES = 8, (8, 16, 24, 32), (1, 2, 1)
MID, KEY = 32, 16
ATTENTION = 16  # the scale attention's bottleneck (256 in the reference)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


@dataclass(frozen=True)
class Case:
    """One official layout with a released checkpoint.

    Args:
        layout (str): The converter's layout name.
        config (str): Our config under ``configs/ocrnet_plus/official``.
        num_classes (int): K.
        inplace_abn (bool): InPlaceABN norm layers.
        input_bgr (bool): The reference normalises BGR (openseg).
    """

    layout: str
    config: str
    num_classes: int
    inplace_abn: bool
    input_bgr: bool


CASES: Dict[str, Case] = {
    'openseg':
    Case('openseg', 'ocrnet_hr48_openseg_cityscapes-512x1024.py', 19, True,
         True),
    'openseg-v1':
    Case('openseg-v1', 'ocrnet_hr48_openseg-v1_cityscapes-512x1024.py', 19,
         False, True),
    'hrnet-ocr-torch11':
    Case('hrnet-ocr', 'ocrnet_hr48_hrnet-ocr_cityscapes-512x1024.py', 19,
         False, False),
    'hrnet-ocr-torch04':
    Case('hrnet-ocr', 'ocrnet_hr48_hrnet-ocr_ade20k-520x520.py', 150, True,
         False),
    'nvidia':
    Case('nvidia', 'ocrnet_hr48_nvidia_cityscapes-1024x2048.py', 19, False,
         False),
    'nvidia-mscale':
    Case('nvidia-mscale', 'ocrnet_hr48-mscale_nvidia_cityscapes-1024x2048.py',
         19, False, False),
}


def build_reference(case: Case) -> OCRNet:
    """The layout's reference model with random weights (not calibrated)."""
    openseg = case.layout.startswith('openseg')
    if case.inplace_abn:
        def norm(c):
            return InPlaceABN(c, activation='none')
    else:
        norm = nn.BatchNorm2d
    if case.layout == 'openseg':
        def bn_act(c):  # a bare InPlaceABN with its LeakyReLU(0.01)
            return InPlaceABN(c, activation='leaky_relu', slope=0.01)
    else:
        def bn_act(c):  # Sequential(BN, ReLU): the BN sits at ``.i.0``
            return nn.Sequential(norm(c), nn.ReLU())
    cin, K = sum(WIDTHS), case.num_classes
    if openseg:  # 3x3 aux conv; biased convs everywhere
        bottleneck = nn.Sequential(nn.Conv2d(cin, MID, 3, padding=1),
                                   bn_act(MID))
        aux = nn.Sequential(
            nn.Conv2d(cin, cin, 3, padding=1), bn_act(cin),
            nn.Conv2d(cin, K, 1))
    elif case.layout == 'hrnet-ocr':  # conv, BN, ReLU flat in one Sequential
        bottleneck = nn.Sequential(
            nn.Conv2d(cin, MID, 3, padding=1), norm(MID), nn.ReLU())
        aux = nn.Sequential(
            nn.Conv2d(cin, cin, 1), norm(cin), nn.ReLU(), nn.Conv2d(cin, K, 1))
    else:  # nvidia, nvidia-mscale: conv, BNReLU
        bottleneck = nn.Sequential(
            nn.Conv2d(cin, MID, 3, padding=1), bn_act(MID))
        aux = nn.Sequential(
            nn.Conv2d(cin, cin, 1), bn_act(cin), nn.Conv2d(cin, K, 1))
    head = OCRHead(MID, KEY, K, bn_act, openseg, bottleneck, aux,
                   'conv3x3' if openseg else 'conv3x3_ocr')
    nvidia = case.layout.startswith('nvidia')
    align_corners = not nvidia
    backbone = HRNetV2(PLANES1, WIDTHS, MODULES, norm, align_corners)
    if case.layout == 'nvidia-mscale':
        return MscaleOCRNet(backbone, head, attention_head(MID, ATTENTION))
    return OCRNet(backbone, head, align_corners, 'ocr' if nvidia else '')


def reference_input(image: np.ndarray, case: Case) -> Tensor:
    """``[1, 3, H, W]``: the reference's normalisation of a BGR uint8
    image (openseg: BGR with the mean/std applied in that order; the others
    flip to RGB)."""
    x = image.astype(np.float64) / 255
    if not case.input_bgr:
        x = x[..., ::-1]
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(x.transpose(2, 0, 1).copy()).float()[None]


def randomize_and_calibrate(model: nn.Module,
                            x: Tensor,
                            seed: int = 0,
                            classifiers: Optional[List[nn.Conv2d]] = None
                            ) -> None:
    """Random conv biases and norm affines (negative gammas for
    InPlaceABN), and running statistics near those of each norm layer's
    input on ``x``, so that the random network stays well-conditioned;
    ``classifiers`` (default: the OCRNet's two) are scaled by 3."""
    g = torch.Generator().manual_seed(seed)
    norms = [
        m for m in model.modules()
        if isinstance(m, (nn.BatchNorm2d, InPlaceABN))
    ]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.normal_(0, 0.5, generator=g)
        for m in norms:
            n = m.weight.numel()
            scale = torch.rand(n, generator=g) + 0.5
            if isinstance(m, InPlaceABN):
                sign = torch.randint(0, 2, (n, ), generator=g) * 2 - 1
                scale = scale * sign  # InPlaceABN uses |gamma| + eps
            m.weight.copy_(scale)
            m.bias.normal_(0, 0.2, generator=g)

    def calibrate(module: nn.Module, inputs: tuple) -> None:
        # running_var from the second moment E[x^2], not the variance: a
        # channel that barely varies over this one image (the object
        # context is nearly constant over the pixels) is then not blown up,
        # nor its rounding with it.
        feat = inputs[0].detach()
        mean = feat.mean((0, 2, 3))
        second = feat.pow(2).mean((0, 2, 3))
        n = mean.numel()
        noise = torch.randn(n, generator=g)
        module.running_mean.copy_(mean + 0.1 * second.sqrt() * noise)
        module.running_var.copy_(second * (torch.rand(n, generator=g) + 0.5)
                                 + 1e-2)

    handles = [m.register_forward_pre_hook(calibrate) for m in norms]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    with torch.no_grad():  # a cls scale that gives logits of a few units
        if classifiers is None:
            classifiers = [model.head.cls_head, model.head.aux_head[-1]]
        for conv in classifiers:
            conv.weight.mul_(3)


def official_file(model: OCRNet, case: Case) -> dict:
    """The checkpoint as the reference saves it."""
    sd = model.state_dict_official()
    g = torch.Generator().manual_seed(1)
    if case.layout.startswith('openseg'):
        state_dict = {f'module.{k}': v for k, v in sd.items()}
        bn_type = 'inplace_abn' if case.inplace_abn else 'torchsyncbn'
        if case.inplace_abn:  # a backbone saved with its ImageNet head
            state_dict['module.backbone.incre_modules.0.0.conv1.weight'] = (
                torch.randn(32, 8, 1, 1, generator=g))
            state_dict['module.backbone.final_layer.0.weight'] = torch.randn(
                2048, 1024, 1, 1, generator=g)
        return dict(
            config_dict=dict(
                network=dict(model_name='hrnet_w48_ocr', bn_type=bn_type)),
            state_dict=state_dict)
    if case.layout == 'hrnet-ocr':  # FullModel(model, loss).state_dict()
        state_dict = {
            'model.' + k.replace('backbone.', '', 1): v
            for k, v in sd.items()
        }
        if case.num_classes == 19:  # Cityscapes class weights of the loss
            state_dict['loss.criterion.weight'] = torch.rand(19, generator=g)
        return state_dict
    arch = ('ocrnet.HRNet_Mscale'
            if case.layout == 'nvidia-mscale' else 'ocrnet.HRNet')
    return dict(  # nvidia: train.py's save
        epoch=175,
        arch=f'network.{arch}',
        num_classes=case.num_classes,
        state_dict={f'module.{k}': v
                    for k, v in sd.items()},
        optimizer=dict(state={}, param_groups=[dict(lr=0.005, params=[0])]),
        mean_iu=np.float64(0.8692),  # a NumPy scalar, as NVIDIA saves it
        command=f'python train.py --arch {arch}')

