"""Convert openseg.pytorch's SegFix checkpoints (``segfix_hrnet_*``) to the
``SegFix`` segmentor's keys.

SegFix (Yuan et al., ECCV 2020, https://arxiv.org/abs/2007.04269); the
official net is openseg.pytorch ``lib/models/nets/segfix.py``
(``SegFix_HRNet``), saved through DataParallel (``module.``) under
``state_dict``, e.g. ``segfix_hrnet_hrnet48_segfix_loss_iter80000_1_latest
.pth``. Its layout, after ``module.``:

* ``backbone.*``: openseg's HRNet, whose module names are MMSeg's (as in
  the OCRNet ``openseg`` layouts, :mod:`.layouts`);
* ``mask_head`` (boundary, 2 classes) and ``dir_head`` (8 directions),
  each ``Sequential(conv1x1, BNReLU, conv1x1)``, no conv bias. With
  ``bn_type='inplace_abn'`` (the released files, ``H_SEGFIX.json``)
  ``BNReLU`` is one InPlaceABNSync at ``.1`` (LeakyReLU(0.01)); with
  ``torchbn``/``torchsyncbn`` it is ``Sequential(BN, ReLU)``, BN at
  ``.1.0``.

Ours: ``backbone.*``, ``decode_head.boundary_conv`` / ``direction_conv``
(``ConvModule``: ``.conv``, ``.bn``) and the classifiers
``decode_head.conv_seg`` / ``conv_direction``. The rules are the OCRNet
converter's: InPlaceABN becomes BN (``weight = |weight| + eps``, no
``num_batches_tracked`` -> 0), the backbone's ImageNet classifier is
dropped, any other key is an error. The norm is told by the keys:
InPlaceABN files have no ``num_batches_tracked``.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, List

from torch import Tensor

from .checkpoint_file import read_state_dict, save_checkpoint
from .layouts import HRNET_MODULES, IMAGENET_MODULES, UnknownLayoutError
from .ocrnet_official import (
    ConversionResult,
    UnexpectedKeysError,
    convert_norms,
    flatten_modules,
)

__all__ = ['convert_segfix_checkpoint', 'convert_segfix_state_dict']

SOURCE = 'openseg-segfix'
WRAPPER = 'module.'
# Official head -> (our mid ConvModule, our classifier).
HEADS = {
    'mask_head': ('decode_head.boundary_conv', 'decode_head.conv_seg'),
    'dir_head': ('decode_head.direction_conv', 'decode_head.conv_direction'),
}
NUM_DIRECTIONS = 8  # GenerateSegFixTargets.directions; dt_num_classes=8
# Our config per norm of the file (the head activation differs).
CONFIGS = {'inplace_abn': 'segfix_hr48_openseg_cityscapes-512x512.py'}


def head_modules(nested_bn: bool) -> Dict[str, str]:
    """Official head module -> ours.

    Args:
        nested_bn (bool): BN at ``.1.0`` (``Sequential(BN, ReLU)``) instead
            of ``.1`` (InPlaceABN).
    """
    bn = '1.0' if nested_bn else '1'
    modules = {}
    for official, (mid, classifier) in HEADS.items():
        modules[f'{official}.0'] = f'{mid}.conv'
        modules[f'{official}.{bn}'] = f'{mid}.bn'
        modules[f'{official}.2'] = classifier
    return modules


def convert_segfix_state_dict(
        state_dict: Dict[str, Tensor]) -> ConversionResult:
    """Convert an openseg ``SegFix_HRNet`` state dict.

    Args:
        state_dict (dict[str, Tensor]): As saved, ``module.`` prefixes
            included.

    Returns:
        tuple[dict, dict]: Our ``SegFix`` state dict and a report:
        ``source``, ``norm`` (``'inplace_abn'`` or ``'bn'``),
        ``head_activation``, ``rules``, ``dropped_keys``,
        ``num_directions`` and ``config`` (under ``configs/segfix/``, or
        None).

    Raises:
        UnknownLayoutError: If the keys are not a SegFix net's.
        UnexpectedKeysError: If keys have no place in our model, a head
            module is missing, or the direction head has other than 8 bins.
    """
    keys = {(k[len(WRAPPER):] if k.startswith(WRAPPER) else k): k
            for k in state_dict}
    markers = ('backbone.conv1.weight', 'mask_head.0.weight',
               'dir_head.0.weight')
    if not all(m in keys for m in markers):
        sample = ', '.join(list(state_dict)[:3]) or 'no keys'
        raise UnknownLayoutError(
            f'expected an openseg SegFix checkpoint (segfix_hrnet: '
            f'{", ".join(markers)}), found {len(keys)} keys without them '
            f'({sample}, ...)')
    inplace_abn = not any(k.endswith('num_batches_tracked') for k in keys)
    heads = head_modules(nested_bn='mask_head.1.0.running_var' in keys)
    modules: Dict[str, Dict[str, Tensor]] = OrderedDict()
    dropped: List[str] = []
    unexpected: List[str] = []
    for key, original in keys.items():
        module, _, param = key.rpartition('.')
        rest = module[len('backbone.'):]
        if module.startswith('backbone.') and IMAGENET_MODULES.match(rest):
            dropped.append(original)
            continue
        target = heads.get(module)
        if target is None and module.startswith('backbone.') and (
                HRNET_MODULES.match(rest + '.')):
            target = module
        is_conv = target is not None and not target.endswith('.bn') and (
            target.startswith('decode_head.'))
        if target is None or (is_conv and param != 'weight'):
            unexpected.append(original)  # e.g. a conv bias: none in ours
            continue
        modules.setdefault(target, OrderedDict())[param] = state_dict[original]
    if unexpected:
        raise UnexpectedKeysError(
            f'{len(unexpected)} keys have no place in our SegFix for layout '
            f'{SOURCE} (e.g. {", ".join(unexpected[:3])})')
    missing = sorted(set(heads.values()) - set(modules))
    if missing:
        raise UnexpectedKeysError(
            f'layout {SOURCE}: expected every SegFix head module, found '
            f'none for {", ".join(missing[:3])}')
    num_directions = int(
        modules['decode_head.conv_direction']['weight'].shape[0])
    if num_directions != NUM_DIRECTIONS:
        raise UnexpectedKeysError(
            f'layout {SOURCE}: expected {NUM_DIRECTIONS} direction bins '
            f'(dt_num_classes=8, the released models), found '
            f'{num_directions} in dir_head.2.weight')
    rules = [f'renamed {SOURCE} keys to SegFix keys (mask_head -> '
             'boundary_conv + conv_seg, dir_head -> direction_conv + '
             'conv_direction)']
    rules += convert_norms(modules, inplace_abn)
    if dropped:
        rules.append(f'dropped {len(dropped)} keys of the backbone\'s '
                     'ImageNet classifier')
    converted = flatten_modules(modules)
    norm = 'inplace_abn' if inplace_abn else 'bn'
    report = dict(
        source=SOURCE,
        norm=norm,
        head_activation='LeakyReLU(0.01)' if inplace_abn else 'ReLU',
        rules=rules,
        dropped_keys=dropped,
        num_directions=num_directions,
        config=CONFIGS.get(norm))
    return converted, report


def convert_segfix_checkpoint(src: str, dst: str) -> Dict[str, object]:
    """Convert an openseg SegFix checkpoint file; nothing is written unless
    the whole conversion succeeds.

    Args:
        src (str): The official checkpoint.
        dst (str): Where to write ``{'meta': ..., 'state_dict': ...}``.

    Returns:
        dict: The ``meta`` written: the report of
        :func:`convert_segfix_state_dict` plus ``source_file`` and
        ``sha256`` of ``src``.

    Raises:
        CheckpointFileError: If ``src`` cannot be read safely or ``dst``
            not written.
        UnknownLayoutError, UnexpectedKeysError: See
            :func:`convert_segfix_state_dict`.
    """
    state_dict, sha256 = read_state_dict(src)
    converted, report = convert_segfix_state_dict(state_dict)
    meta = dict(report, source_file=osp.basename(src), sha256=sha256)
    save_checkpoint(dict(meta=meta, state_dict=converted), dst)
    return meta

