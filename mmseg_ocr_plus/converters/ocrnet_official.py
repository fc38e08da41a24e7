"""Convert an official OCRNet state dict to MMSeg's cascade OCRNet keys.

The rules (each exact; the ones applied are listed in the result):

* keys are renamed module by module (:mod:`.layouts`);
* a conv bias followed by a BN folds into the BN:
  ``BN(conv(x) + b) = BN'(conv(x))`` with ``running_mean' = running_mean -
  b`` (eval mode; in training the batch mean absorbs the bias anyway);
* InPlaceABN normalises with the effective scale ``|gamma| + eps``: it
  becomes a plain BN weight (``eps = 1e-5``, the InPlaceABN default of the
  released models); InPlaceABN keeps no ``num_batches_tracked``, which is
  added as 0;
* the class-weight buffer of a loss module and the backbone's ImageNet
  classifier are dropped and reported; any other key that has no place in
  MMSeg's model is an error.
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from .checkpoint_file import read_state_dict, save_checkpoint
from .layouts import (
    LAYOUTS,
    LOSS_WEIGHT,
    Layout,
    UnknownLayoutError,
    detect_layout,
)

__all__ = [
    'convert_checkpoint', 'convert_state_dict', 'ConversionResult',
    'UnexpectedKeysError'
]

INPLACE_ABN_EPS = 1e-5
BN_KEYS = ('weight', 'bias', 'running_mean', 'running_var')

ConversionResult = Tuple[Dict[str, Tensor], Dict[str, object]]


class UnexpectedKeysError(UnknownLayoutError):
    """Keys of a recognised layout that have no place in MMSeg's model."""


def convert_state_dict(state_dict: Dict[str, Tensor],
                       source: Optional[str] = None) -> ConversionResult:
    """Convert an official OCRNet state dict.

    Args:
        state_dict (dict[str, Tensor]): The official model's state dict, with
            its wrapper prefixes.
        source (str, optional): A name of :data:`~.layouts.LAYOUTS`; None
            detects the layout from the keys. Defaults to None.

    Returns:
        tuple[dict, dict]: MMSeg's state dict and a report: ``source``,
        ``norm`` (``'inplace_abn'`` or ``'bn'``), ``rules`` applied,
        ``dropped_keys``, ``num_classes`` and the matching ``config``
        (file name under ``configs/ocrnet_plus/official/``, or None).

    Raises:
        UnknownLayoutError: If the layout is unknown or does not match.
        UnexpectedKeysError: If keys have no place in MMSeg's model, or a
            module misses a parameter.
    """
    if source is None:
        layout = detect_layout(state_dict)
    elif source in LAYOUTS:
        layout = LAYOUTS[source]
    else:
        raise UnknownLayoutError(
            f'expected --source to be one of {sorted(LAYOUTS)}, got '
            f'{source!r}')
    modules, dropped = _rename(state_dict, layout)
    inplace_abn = layout.inplace_abn
    if inplace_abn is None:
        inplace_abn = not any(k.endswith('num_batches_tracked')
                              for k in state_dict)
    target = ('MultiScaleAttentionOCR' if layout.attention else
              'cascade OCRNet')
    rules = [f'renamed {layout.name} keys to MMSeg {target} keys']
    folded = _fold_conv_bias(modules)
    if folded:
        rules.append(f'folded {folded} conv biases into the following BN '
                     'running_mean (running_mean -= bias)')
    rules += convert_norms(modules, inplace_abn)
    if dropped:
        rules.append(f'dropped {len(dropped)} keys with no place in MMSeg '
                     '(loss class weights, ImageNet classifier)')
    converted = flatten_modules(modules)
    num_classes = int(converted['decode_head.1.conv_seg.weight'].shape[0])
    report = dict(
        source=layout.name,
        norm='inplace_abn' if inplace_abn else 'bn',
        rules=rules,
        dropped_keys=dropped,
        num_classes=num_classes,
        config=layout.configs.get(num_classes))
    return converted, report


def convert_checkpoint(src: str,
                       dst: str,
                       source: Optional[str] = None) -> Dict[str, object]:
    """Convert an official OCRNet checkpoint file to an MMSeg one.

    Nothing is written unless the whole conversion succeeds.

    Args:
        src (str): The official checkpoint.
        dst (str): Where to write ``{'meta': ..., 'state_dict': ...}``.
        source (str, optional): The layout; None detects it. Defaults to
            None.

    Returns:
        dict: The ``meta`` written: the report of
        :func:`convert_state_dict` plus ``source_file`` and ``sha256`` of
        ``src``.

    Raises:
        CheckpointFileError: If ``src`` cannot be read safely or ``dst``
            not written.
        UnknownLayoutError: If the keys match no known layout.
    """
    state_dict, sha256 = read_state_dict(src)
    converted, report = convert_state_dict(state_dict, source)
    meta = dict(report, source_file=osp.basename(src), sha256=sha256)
    save_checkpoint(dict(meta=meta, state_dict=converted), dst)
    return meta


def _rename(state_dict: Dict[str, Tensor],
            layout: Layout) -> Tuple[Dict[str, Dict[str, Tensor]], List[str]]:
    """Group the tensors by MMSeg module; collect dropped keys."""
    head = layout.head_modules()
    modules: Dict[str, Dict[str, Tensor]] = OrderedDict()
    dropped, unexpected = [], []
    for key, value in state_dict.items():
        stripped = layout.strip_wrappers(key)
        if (LOSS_WEIGHT.fullmatch(stripped)
                or layout.is_imagenet_head(stripped)):
            dropped.append(key)
            continue
        module, _, param = stripped.rpartition('.')
        target = head.get(module)
        if target is None:
            hrnet = layout.backbone_module(module)
            target = None if hrnet is None else f'backbone.{hrnet}'
        if target is None or not isinstance(value, Tensor):
            unexpected.append(key)
            continue
        modules.setdefault(target, OrderedDict())[param] = value
    if unexpected:
        raise UnexpectedKeysError(
            f'{len(unexpected)} keys have no place in MMSeg\'s OCRNet for '
            f'layout {layout.name} (e.g. {", ".join(unexpected[:3])}); '
            'check --source')
    missing = sorted(set(head.values()) - set(modules))
    if missing:
        raise UnexpectedKeysError(
            f'layout {layout.name}: expected every OCRNet head module, '
            f'found none for {", ".join(missing[:3])}')
    return modules, dropped


def _fold_conv_bias(modules: Dict[str, Dict[str, Tensor]]) -> int:
    """Fold ``<m>.conv.bias`` into ``<m>.bn.running_mean``; count them."""
    folded = 0
    for name, params in modules.items():
        if not (name.endswith('.conv') and 'bias' in params):
            continue
        bn = modules.get(re.sub(r'\.conv$', '.bn', name))
        if bn is None or 'running_mean' not in bn:
            raise UnexpectedKeysError(
                f'{name}.bias: expected a BN after this conv to fold the '
                'bias into, found none')
        bias = params.pop('bias')
        mean = bn['running_mean']
        bn['running_mean'] = (mean.double() - bias.double()).to(mean.dtype)
        folded += 1
    return folded


def convert_norms(modules: Dict[str, Dict[str, Tensor]],
                  inplace_abn: bool) -> List[str]:
    """InPlaceABN -> BN (see :func:`inplace_abn_to_bn`), else add the
    ``num_batches_tracked`` that files saved by torch < 0.4.1 lack; in
    place. Returns the rules applied, for the report."""
    if inplace_abn:
        n = inplace_abn_to_bn(modules)
        return [
            f'InPlaceABN -> BN in {n} layers: weight = |weight| + '
            f'{INPLACE_ABN_EPS}; num_batches_tracked = 0'
        ]
    for params in modules.values():
        if 'running_var' in params:
            params.setdefault('num_batches_tracked',
                              torch.tensor(0, dtype=torch.long))
    return []


def flatten_modules(
        modules: Dict[str, Dict[str, Tensor]]) -> 'OrderedDict[str, Tensor]':
    """``{module: {param: value}}`` -> ``{'module.param': value}``."""
    return OrderedDict((f'{module}.{param}', value)
                       for module, params in modules.items()
                       for param, value in params.items())


def inplace_abn_to_bn(modules: Dict[str, Dict[str, Tensor]]) -> int:
    """Turn every InPlaceABN into BN parameters; count them."""
    n = 0
    for name, params in modules.items():
        if 'running_var' not in params:
            continue
        missing = [k for k in BN_KEYS if k not in params]
        if missing or 'num_batches_tracked' in params:
            raise UnexpectedKeysError(
                f'{name}: expected an InPlaceABN layer ({", ".join(BN_KEYS)}'
                f'), found {", ".join(params)}')
        weight = params['weight']
        params['weight'] = (weight.double().abs() +
                            INPLACE_ABN_EPS).to(weight.dtype)
        params['num_batches_tracked'] = torch.tensor(0, dtype=torch.long)
        n += 1
    return n
