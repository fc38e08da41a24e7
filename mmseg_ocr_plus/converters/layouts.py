"""The key layouts of the official OCRNet checkpoints and their detection.

Every layout maps source modules one to one onto MMSeg's cascade OCRNet
(``backbone.*``, ``decode_head.0.*``: the soft-region head,
``decode_head.1.*``: the OCR head). The layouts differ in wrapper prefixes,
in where the head sits, in the nesting of the BN of a ``BNReLU`` block
(``.1`` for a bare InPlaceABN, ``.1.0`` for ``Sequential(BN, ReLU)``), in
the aux head's indices and in the norm layer (InPlaceABN or BN):

* ``openseg``: openseg.pytorch ``master`` releases (InPlaceABN, heads with
  LeakyReLU(0.01)), e.g. ``hrnet_w48_ocr_1_latest.pth``;
* ``openseg-v1``: openseg.pytorch ``pytorch-1.7`` / v1.0 releases (SyncBN),
  e.g. ``cityscapes_hrnet_w48_ocr_rmi_paddle_lr2x_run2_latest.pth``;
* ``hrnet-ocr``: HRNet-Semantic-Segmentation ``HRNet-OCR``,
  ``*_torch11.pth`` (SyncBN) and ``*_torch04.pth`` (InPlaceABN, told apart
  by their missing ``num_batches_tracked``);
* ``nvidia``: NVIDIA semantic-segmentation ``ocrnet.HRNet`` (single scale);
* ``nvidia-mscale``: NVIDIA's ``ocrnet.HRNet_Mscale`` (``MscaleOCR``):
  ``nvidia`` plus the scale attention ``scale_attn.*``, which becomes the
  ``attention_head.*`` of ``MultiScaleAttentionOCR``. A layout with an
  attention head matches only keys that have one, the others only keys
  that have none.
"""
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, Optional, Tuple

from ..utils.preflight import InvalidInputError

__all__ = ['Layout', 'LAYOUTS', 'detect_layout', 'UnknownLayoutError']

# MMSeg's HRNet: the official module names below the backbone prefix.
HRNET_MODULES = re.compile(r'(conv[12]|bn[12]|layer1|transition[123]|'
                           r'stage[234])\.')
# ImageNet classification head of the HRNet backbone: no place in MMSeg.
IMAGENET_MODULES = re.compile(r'(incre_modules|downsamp_modules|final_layer|'
                              r'classifier)\.')
# NVIDIA's multi-scale attention head (after the wrappers).
MSCALE_PREFIX = 'scale_attn.'
# Class-weight buffers of a loss module saved with the model
# (HRNet-OCR ``FullModel.loss``, NVIDIA ``OCRNet.criterion``).
LOSS_WEIGHT = re.compile(r'(loss|criterion)\.(\w+\.)*weight')

OCR = 'decode_head.1.'
BLOCK = OCR + 'object_context_block.'
AUX = 'decode_head.0.'
ATTENTION = 'attention_head.'


class UnknownLayoutError(InvalidInputError):
    """The keys match none of the known official OCRNet layouts."""


@dataclass(frozen=True)
class Layout:
    """Where an official checkpoint keeps each module.

    Args:
        name (str): The ``--source`` name.
        description (str): Reference code and released files.
        wrappers (tuple[str]): Prefixes stripped from every key that has
            them, in order (``module.`` of DataParallel, ``model.`` of
            HRNet-OCR's ``FullModel``).
        backbone (str): Prefix of the HRNet keys after the wrappers.
        head (str): Prefix of the OCR head's modules.
        bottleneck (str): Name of the 3x3 conv-BN-act before the OCR block.
        bottleneck_bn (str): Index of its BN.
        nested_bn (bool): BN of the OCR block's ``BNReLU`` at ``.i.0``
            (``Sequential(BN, ReLU)``) instead of ``.i`` (InPlaceABN).
        aux_bn (str): Index of the aux head's BN.
        aux_cls (str): Index of the aux head's classifier.
        inplace_abn (bool, optional): Whether the norm layers are
            InPlaceABN; None: InPlaceABN iff no ``num_batches_tracked`` key.
        configs (dict[int, str]): Our config for each number of classes.
        attention (str): Prefix of the scale attention head
            (``make_attn_head``: ``conv0``, ``bn0``, ``conv1``, ``bn1``,
            ``conv2``) after the wrappers; empty for single-scale layouts.
            Defaults to ''.
    """

    name: str
    description: str
    wrappers: Tuple[str, ...]
    backbone: str
    head: str
    bottleneck: str
    bottleneck_bn: str
    nested_bn: bool
    aux_bn: str
    aux_cls: str
    inplace_abn: Optional[bool]
    configs: Dict[int, str] = field(default_factory=dict)
    attention: str = ''

    def head_modules(self) -> Dict[str, str]:
        """Source module -> MMSeg module, for every head module."""
        bn = (lambda i: f'{i}.0') if self.nested_bn else str
        head = self.head
        src = head + 'ocr_distri_head.object_context_block.'
        modules = {
            f'{head}{self.bottleneck}.0': OCR + 'bottleneck.conv',
            f'{head}{self.bottleneck}.{self.bottleneck_bn}':
            OCR + 'bottleneck.bn',
            f'{head}ocr_distri_head.conv_bn_dropout.0':
            BLOCK + 'bottleneck.conv',
            f'{head}ocr_distri_head.conv_bn_dropout.{bn(1)}':
            BLOCK + 'bottleneck.bn',
            f'{head}cls_head': OCR + 'conv_seg',
            f'{head}aux_head.0': AUX + 'convs.0.conv',
            f'{head}aux_head.{self.aux_bn}': AUX + 'convs.0.bn',
            f'{head}aux_head.{self.aux_cls}': AUX + 'conv_seg',
        }
        for official, ours in (('f_pixel', 'query_project'),
                               ('f_object', 'key_project')):
            for k in (0, 1):  # two conv-BN-act layers
                modules[f'{src}{official}.{2 * k}'] = f'{BLOCK}{ours}.{k}.conv'
                modules[f'{src}{official}.{bn(2 * k + 1)}'] = (
                    f'{BLOCK}{ours}.{k}.bn')
        for official, ours in (('f_down', 'value_project'),
                               ('f_up', 'out_project')):
            modules[f'{src}{official}.0'] = f'{BLOCK}{ours}.conv'
            modules[f'{src}{official}.{bn(1)}'] = f'{BLOCK}{ours}.bn'
        if self.attention:  # ScaleAttentionHead: two ConvModules, a conv
            attn = self.attention
            for k in (0, 1):
                modules[f'{attn}conv{k}'] = f'{ATTENTION}conv{k}.conv'
                modules[f'{attn}bn{k}'] = f'{ATTENTION}conv{k}.bn'
            modules[f'{attn}conv2'] = ATTENTION + 'conv2'
        return modules

    def strip_wrappers(self, key: str) -> str:
        """The key without the layout's wrapper prefixes."""
        for prefix in self.wrappers:
            if key.startswith(prefix):
                key = key[len(prefix):]
        return key

    def backbone_module(self, module: str) -> Optional[str]:
        """The HRNet module path (below ``backbone.``) of a source module,
        or None if ``module`` is not an HRNet module of this layout."""
        if not module.startswith(self.backbone):
            return None
        rest = module[len(self.backbone):]
        return rest if HRNET_MODULES.match(rest + '.') else None

    def is_imagenet_head(self, key: str) -> bool:
        """Whether ``key`` belongs to the backbone's ImageNet classifier."""
        return (key.startswith(self.backbone)
                and IMAGENET_MODULES.match(key[len(self.backbone):])
                is not None)

    def matches(self, keys: Iterable[str]) -> bool:
        """Whether stripped ``keys`` hold this layout's head, and a scale
        attention head exactly if the layout has one."""
        keys = set(keys)
        marker = f'{self.head}{self.bottleneck}.{self.bottleneck_bn}'
        with_attention = any(k.startswith(MSCALE_PREFIX) for k in keys)
        return (f'{marker}.running_var' in keys
                and f'{self.head}cls_head.weight' in keys
                and f'{self.backbone}conv1.weight' in keys
                and with_attention == bool(self.attention))


_OPENSEG = dict(
    wrappers=('module.', ),
    backbone='backbone.',
    head='',
    bottleneck='conv3x3',
    aux_cls='2')
_NVIDIA = dict(
    wrappers=('module.', ),
    backbone='backbone.',
    head='ocr.',
    bottleneck='conv3x3_ocr',
    bottleneck_bn='1.0',
    nested_bn=True,
    aux_bn='1.0',
    aux_cls='2',
    inplace_abn=False)
LAYOUTS: Dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            name='openseg',
            description='openseg.pytorch master, InPlaceABN (e.g. '
            'hrnet_w48_ocr_1_latest.pth)',
            bottleneck_bn='1',
            nested_bn=False,
            aux_bn='1',
            inplace_abn=True,
            configs={19: 'ocrnet_hr48_openseg_cityscapes-512x1024.py'},
            **_OPENSEG),
        Layout(
            name='openseg-v1',
            description='openseg.pytorch pytorch-1.7 / v1.0 releases, '
            'SyncBN',
            bottleneck_bn='1.0',
            nested_bn=True,
            aux_bn='1.0',
            inplace_abn=False,
            configs={19: 'ocrnet_hr48_openseg-v1_cityscapes-512x1024.py'},
            **_OPENSEG),
        Layout(
            name='hrnet-ocr',
            description='HRNet-Semantic-Segmentation HRNet-OCR, '
            '*_torch11.pth (SyncBN) or *_torch04.pth (InPlaceABN)',
            wrappers=('module.', 'model.'),
            backbone='',
            head='',
            bottleneck='conv3x3_ocr',
            bottleneck_bn='1',
            nested_bn=True,
            aux_bn='1',
            aux_cls='3',
            inplace_abn=None,
            configs={
                19: 'ocrnet_hr48_hrnet-ocr_cityscapes-512x1024.py',
                150: 'ocrnet_hr48_hrnet-ocr_ade20k-520x520.py'
            }),
        Layout(
            name='nvidia',
            description='NVIDIA semantic-segmentation ocrnet.HRNet '
            '(single scale)',
            configs={19: 'ocrnet_hr48_nvidia_cityscapes-1024x2048.py'},
            **_NVIDIA),
        Layout(
            name='nvidia-mscale',
            description='NVIDIA semantic-segmentation ocrnet.HRNet_Mscale '
            '(hierarchical multi-scale attention, e.g. '
            'cityscapes_ocrnet.HRNet_Mscale_outstanding-turtle.pth)',
            configs={
                19: 'ocrnet_hr48-mscale_nvidia_cityscapes-1024x2048.py'
            },
            attention=MSCALE_PREFIX,
            **_NVIDIA),
    )
}


def known_layouts() -> str:
    """One line naming every layout."""
    return '; '.join(f'{name} ({layout.description})'
                     for name, layout in LAYOUTS.items())


def detect_layout(keys: Iterable[str]) -> Layout:
    """The layout whose head and backbone keys ``keys`` hold.

    Args:
        keys (Iterable[str]): State-dict keys as saved.

    Returns:
        Layout: The only layout that matches.

    Raises:
        UnknownLayoutError: If none (or, impossibly, several) match; the
            message lists the known layouts and a few of the keys found.
    """
    keys = list(keys)
    found = [
        layout for layout in LAYOUTS.values()
        if layout.matches(layout.strip_wrappers(k) for k in keys)
    ]
    if len(found) != 1:
        sample = ', '.join(keys[:3]) or 'no keys'
        raise UnknownLayoutError(
            f'expected an official OCRNet checkpoint of one of the layouts '
            f'{known_layouts()}; found {len(keys)} keys matching '
            f'{len(found)} of them ({sample}, ...)')
    return found[0]
