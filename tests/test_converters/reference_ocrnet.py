"""Small OCRNet models written from the official implementations'
published structure, in each reference's own module layout.

Written for these tests from the descriptions in the OCRNet paper
(arXiv 1909.11065), the HRNet paper (arXiv 1908.07919), the hierarchical
multi-scale attention paper (arXiv 2005.10821) and the layout notes of
``docs/references.md`` (module names, nesting, conv biases, norm layers,
align_corners); widths and depths are parameters so that the tests run
small models. Nothing here is imported by the package.

Shape shorthand: B batch, C_i branch widths, K classes, M mid channels
(512 in the references), Ck key channels (256), H x W the 1/4-resolution
feature size, Cb the attention head's bottleneck (256), s a scale.
"""
from collections import OrderedDict
from typing import Callable, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class InPlaceABN(nn.Module):
    """InPlaceABN at inference: BN with the effective scale ``|w| + eps``,
    then an optional activation; no ``num_batches_tracked`` buffer."""

    def __init__(self,
                 num_features: int,
                 activation: str = 'leaky_relu',
                 slope: float = 0.01,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.activation, self.slope, self.eps = activation, slope, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer('running_mean', torch.zeros(num_features))
        self.register_buffer('running_var', torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        x = F.batch_norm(x, self.running_mean, self.running_var,
                         self.weight.abs() + self.eps, self.bias, False, 0.0,
                         self.eps)
        if self.activation == 'leaky_relu':
            return F.leaky_relu(x, self.slope)
        if self.activation == 'relu':
            return F.relu(x)
        return x


Norm = Callable[[int], nn.Module]


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, norm: Norm) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, planes), norm(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes), norm(planes)
        self.downsample = None
        if cin != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, planes, 1, bias=False), norm(planes))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(out + res)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, norm: Norm) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = norm(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes), norm(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = norm(planes * 4)
        self.downsample = None
        if cin != planes * 4:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, planes * 4, 1, bias=False), norm(planes * 4))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(out + res)


class HighResolutionModule(nn.Module):
    """Parallel branches of basic blocks, then every branch fused into
    every other: 1x1 conv + BN + bilinear upsampling straight to the target
    size from lower resolutions, strided 3x3 convs from higher ones."""

    def __init__(self, widths: Sequence[int], blocks: int, norm: Norm,
                 align_corners: bool) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.branches = nn.ModuleList(
            nn.Sequential(*[BasicBlock(c, c, norm) for _ in range(blocks)])
            for c in widths)
        n = len(widths)
        self.fuse_layers = nn.ModuleList()
        for i in range(n):
            layer = nn.ModuleList()
            for j in range(n):
                if j > i:
                    layer.append(
                        nn.Sequential(
                            nn.Conv2d(widths[j], widths[i], 1, bias=False),
                            norm(widths[i])))
                elif j == i:
                    layer.append(None)
                else:
                    downs = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        cout = widths[i] if last else widths[j]
                        down = [conv3x3(widths[j], cout, 2), norm(cout)]
                        if not last:
                            down.append(nn.ReLU())
                        downs.append(nn.Sequential(*down))
                    layer.append(nn.Sequential(*downs))
            self.fuse_layers.append(layer)

    def forward(self, x: List[Tensor]) -> List[Tensor]:
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        out = []
        for i, layer in enumerate(self.fuse_layers):
            y = x[0] if i == 0 else layer[0](x[0])
            for j in range(1, len(x)):
                if j == i:
                    y = y + x[j]
                elif j > i:
                    y = y + F.interpolate(
                        layer[j](x[j]),
                        size=x[i].shape[2:],
                        mode='bilinear',
                        align_corners=self.align_corners)
                else:
                    y = y + layer[j](x[j])
            out.append(F.relu(y))
        return out


class HRNetV2(nn.Module):
    """HRNetV2 backbone: stem (two stride-2 3x3 convs, 64 channels),
    ``layer1`` of bottlenecks, then stages 2-4 with 2, 3, 4 branches;
    returns the four branches ``[B, C_i, H / 2^i, W / 2^i]``."""

    def __init__(self, planes1: int, widths: Sequence[int],
                 modules: Sequence[int], norm: Norm,
                 align_corners: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = norm(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = norm(64)
        self.layer1 = nn.Sequential(Bottleneck(64, planes1, norm))
        prev = [planes1 * 4]
        for s, num_modules in zip((2, 3, 4), modules):
            cur = list(widths[:s])
            setattr(self, f'transition{s - 1}',
                    self._transition(prev, cur, norm))
            setattr(
                self, f'stage{s}',
                nn.Sequential(*[
                    HighResolutionModule(cur, 1, norm, align_corners)
                    for _ in range(num_modules)
                ]))
            prev = cur

    @staticmethod
    def _transition(prev: List[int], cur: List[int],
                    norm: Norm) -> nn.ModuleList:
        layers = nn.ModuleList()
        for i, c in enumerate(cur):
            if i < len(prev):
                layers.append(None if prev[i] == c else nn.Sequential(
                    conv3x3(prev[i], c), norm(c), nn.ReLU()))
            else:
                layers.append(
                    nn.Sequential(
                        nn.Sequential(
                            conv3x3(prev[-1], c, 2), norm(c), nn.ReLU())))
        return layers

    def forward(self, x: Tensor) -> List[Tensor]:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for s in (2, 3, 4):
            transition = getattr(self, f'transition{s - 1}')
            xs = [
                ys[i] if t is None else t(ys[min(i, len(ys) - 1)])
                for i, t in enumerate(transition)
            ]
            ys = getattr(self, f'stage{s}')(xs)
        return ys


class ObjectAttentionBlock(nn.Module):
    """f_pixel / f_object (2 x conv-BN-act), f_down, f_up; the attention
    ``softmax(Ck^-0.5 q.k)`` over the K regions."""

    def __init__(self, mid: int, key: int, bn_act: Norm, bias: bool) -> None:
        super().__init__()
        self.key = key

        def conv_bn_act(cin: int, cout: int) -> List[nn.Module]:
            return [nn.Conv2d(cin, cout, 1, bias=bias), bn_act(cout)]

        self.f_pixel = nn.Sequential(*conv_bn_act(mid, key),
                                     *conv_bn_act(key, key))
        self.f_object = nn.Sequential(*conv_bn_act(mid, key),
                                      *conv_bn_act(key, key))
        self.f_down = nn.Sequential(*conv_bn_act(mid, key))
        self.f_up = nn.Sequential(*conv_bn_act(key, mid))

    def forward(self, x: Tensor, proxy: Tensor) -> Tensor:
        B, _, H, W = x.shape
        query = self.f_pixel(x).flatten(2).transpose(1, 2)  # [B, N, Ck]
        key = self.f_object(proxy).flatten(2)  # [B, Ck, K]
        value = self.f_down(proxy).flatten(2).transpose(1, 2)  # [B, K, Ck]
        sim = F.softmax(self.key**-0.5 * (query @ key), dim=-1)  # [B, N, K]
        context = (sim @ value).transpose(1, 2).reshape(B, self.key, H, W)
        return self.f_up(context)


class SpatialOCR(nn.Module):
    """Object attention, then ``conv_bn_dropout(cat([context, feats]))``."""

    def __init__(self, mid: int, key: int, bn_act: Norm, bias: bool) -> None:
        super().__init__()
        self.object_context_block = ObjectAttentionBlock(
            mid, key, bn_act, bias)
        self.conv_bn_dropout = nn.Sequential(
            nn.Conv2d(2 * mid, mid, 1, bias=bias), bn_act(mid),
            nn.Dropout2d(0.05))

    def forward(self, feats: Tensor, proxy: Tensor) -> Tensor:
        context = self.object_context_block(feats, proxy)
        return self.conv_bn_dropout(torch.cat([context, feats], 1))


class OCRHead(nn.Module):
    """Aux head, 3x3 conv, spatial gather, SpatialOCR, classifier.

    Args:
        bottleneck (nn.Sequential): The 3x3 conv-BN-act before the OCR
            block (its attribute name is the layout's).
        aux_head (nn.Sequential): The aux head.
        bottleneck_name (str): ``conv3x3`` (openseg) or ``conv3x3_ocr``.
    """

    def __init__(self, mid: int, key: int, num_classes: int, bn_act: Norm,
                 ocr_bias: bool, bottleneck: nn.Module, aux_head: nn.Module,
                 bottleneck_name: str) -> None:
        super().__init__()
        self.bottleneck_name = bottleneck_name
        setattr(self, bottleneck_name, bottleneck)
        self.ocr_distri_head = SpatialOCR(mid, key, bn_act, ocr_bias)
        self.cls_head = nn.Conv2d(mid, num_classes, 1)
        self.aux_head = aux_head

    def forward(self, feats: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Aux logits, final logits and the pre-classifier features."""
        aux = self.aux_head(feats)  # [B, K, H, W]
        feats = getattr(self, self.bottleneck_name)(feats)  # [B, M, H, W]
        probs = F.softmax(aux.flatten(2), dim=2)  # [B, K, N]
        proxy = (probs @ feats.flatten(2).transpose(1, 2))  # [B, K, M]
        proxy = proxy.transpose(1, 2).unsqueeze(3)  # [B, M, K, 1]
        ocr_feats = self.ocr_distri_head(feats, proxy)  # [B, M, H, W]
        return aux, self.cls_head(ocr_feats), ocr_feats


class OCRNet(nn.Module):
    """HRNetV2 + OCR head; ``forward`` returns the aux and final logits at
    1/4 resolution and the final logits at the input size."""

    def __init__(self, backbone: HRNetV2, head: OCRHead, align_corners: bool,
                 head_attr: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.align_corners = align_corners
        self.head_attr = head_attr
        if head_attr:  # NVIDIA: model.ocr.*
            setattr(self, head_attr, head)
        else:  # openseg, HRNet-OCR: head modules at the top level
            for name, module in head.named_children():
                setattr(self, name, module)
            self.bottleneck_name = head.bottleneck_name
        self.head = head

    def state_dict_official(self) -> dict:
        """The state dict with the layout's names (no ``head.`` level)."""
        return {
            k: v
            for k, v in self.state_dict().items() if not k.startswith('head.')
        }

    def head_forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Aux logits, final logits and pre-classifier features at 1/4."""
        xs = self.backbone(x)
        size = xs[0].shape[2:]
        feats = torch.cat([xs[0]] + [
            F.interpolate(
                y, size, mode='bilinear', align_corners=self.align_corners)
            for y in xs[1:]
        ], 1)  # [B, sum C_i, H, W]
        return self.head(feats)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        aux, out, _ = self.head_forward(x)
        full = F.interpolate(
            out, x.shape[2:], mode='bilinear',
            align_corners=self.align_corners)
        return aux, out, full


def attention_head(mid: int, bottleneck: int) -> nn.Sequential:
    """The scale attention: ``conv0`` 3x3 M->Cb, ``bn0``, ReLU, ``conv1``
    3x3 Cb->Cb, ``bn1``, ReLU, ``conv2`` 1x1 Cb->1, sigmoid; no conv bias."""
    return nn.Sequential(
        OrderedDict([
            ('conv0', nn.Conv2d(mid, bottleneck, 3, padding=1, bias=False)),
            ('bn0', nn.BatchNorm2d(bottleneck)),
            ('re0', nn.ReLU()),
            ('conv1',
             nn.Conv2d(bottleneck, bottleneck, 3, padding=1, bias=False)),
            ('bn1', nn.BatchNorm2d(bottleneck)),
            ('re1', nn.ReLU()),
            ('conv2', nn.Conv2d(bottleneck, 1, 1, bias=False)),
            ('sig', nn.Sigmoid()),
        ]))


def resize(x: Tensor, size) -> Tensor:
    """Bilinear, ``align_corners=False`` (every resize of the reference)."""
    return F.interpolate(x, size, mode='bilinear', align_corners=False)


class MscaleOCRNet(OCRNet):
    """OCRNet with hierarchical multi-scale attention (NVIDIA's layout:
    ``backbone.*``, ``ocr.*``, ``scale_attn.*``; ``align_corners=False``).

    ``forward`` is the single-scale network (and also runs the attention
    head, so that calibration sees it); ``nscale_forward`` fuses the logits
    of several scales, taken from high to low: the first is kept, then for
    scale s with attention a and logits p (each upsampled to the scaled
    input), ``s >= 1``: ``pred = a * p + (1 - a) * down(pred)``;
    ``s < 1``: ``pred = up(a * p) + (1 - up(a)) * pred``.
    """

    def __init__(self, backbone: HRNetV2, head: OCRHead,
                 scale_attn: nn.Module) -> None:
        super().__init__(backbone, head, False, 'ocr')
        self.scale_attn = scale_attn

    def scale_outputs(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Final logits ``[B, K, H_s, W_s]`` and attention
        ``[B, 1, H_s, W_s]`` of one (already scaled) image."""
        _, out, ocr_feats = self.head_forward(x)
        attn = self.scale_attn(ocr_feats)  # [B, 1, H, W]
        size = x.shape[2:]
        return resize(out, size), resize(attn, size)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        aux, out, ocr_feats = self.head_forward(x)
        self.scale_attn(ocr_feats)
        return aux, out, resize(out, x.shape[2:])

    def nscale_forward(self, x: Tensor, scales: Sequence[float]) -> Tensor:
        """Logits ``[B, K, H, W]`` fused over ``scales`` (1.0 included)."""
        assert 1.0 in scales, f'expected 1.0 among the scales, got {scales}'
        pred = None
        for s in sorted(scales, reverse=True):
            xs = F.interpolate(
                x,
                scale_factor=s,
                mode='bilinear',
                align_corners=False,
                recompute_scale_factor=True)  # [B, 3, H_s, W_s]
            p, a = self.scale_outputs(xs)
            if pred is None:
                pred = p
            elif s >= 1.0:
                pred = a * p + (1 - a) * resize(pred, p.shape[2:])
            else:
                size = pred.shape[2:]
                pred = resize(a * p, size) + (1 - resize(a, size)) * pred
        return pred
