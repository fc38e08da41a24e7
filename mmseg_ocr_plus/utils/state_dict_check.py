"""Compare a checkpoint's state dict with a model's, and say how they differ.

MMEngine's ``Runner.load_checkpoint`` loads with ``strict=False``: keys
that are missing, unexpected or of another shape are logged as a warning
and left as initialised, so a 19-class checkpoint evaluated with a
150-class config runs with random classifiers and exits 0.
:func:`compare_state_dicts` finds those keys before anything is loaded;
:meth:`StateDictMismatch.summary` says it in one line, grouping repeated
layers (``decode_head.*.conv_seg: checkpoint has 19 classes, the config
150``), and :meth:`StateDictMismatch.skipped` lists every key.
"""
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import torch

__all__ = ['CheckpointMismatchError', 'StateDictMismatch',
           'check_state_dict', 'compare_state_dicts', 'load_weights']

# Groups listed in a summary before '... and N more'.
MAX_GROUPS = 3


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not match the model's keys or shapes."""


@dataclass
class StateDictMismatch:
    """How a checkpoint's state dict differs from a model's.

    Args:
        missing (list[str]): The model's keys the checkpoint lacks.
        unexpected (list[str]): The checkpoint's keys the model lacks.
        shapes (dict[str, tuple]): Keys of both with other shapes:
            ``key: (checkpoint shape, model shape)``.
    """
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    shapes: Dict[str, Tuple[tuple, tuple]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.shapes)

    def summary(self) -> str:
        """One line: the shape mismatches, then the missing and the
        unexpected keys, layers repeated under numbered modules grouped
        as ``decode_head.*.conv_seg``."""
        parts = [
            _shape_summary(group, self.shapes)
            for group in _groups(self.shapes)
        ]
        for keys, what in ((self.missing, 'missing from the checkpoint'),
                           (self.unexpected, "not in the config's model")):
            if keys:
                names = [_key_summary(group) for group in _groups(keys)]
                count = f'{len(keys)} keys' if len(keys) > 1 else '1 key'
                parts.append(f'{count} {what} ({_first(names)})')
        return '; '.join(parts)

    def skipped(self) -> List[str]:
        """Every key a partial load skips, one per line."""
        lines = [
            f'{key}: checkpoint shape {ckpt}, the config {model}'
            for key, (ckpt, model) in self.shapes.items()
        ]
        lines += [f'{key}: missing from the checkpoint'
                  for key in self.missing]
        lines += [
            f"{key}: not in the config's model" for key in self.unexpected
        ]
        return lines


def compare_state_dicts(
        model_state: Mapping,
        checkpoint_state: Mapping,
        revise_keys: Tuple[Tuple[str, str], ...] = ((r'^module\.', ''), ),
) -> StateDictMismatch:
    """Compare a checkpoint's state dict with a model's ``state_dict()``.

    Args:
        model_state (Mapping): ``model.state_dict()``.
        checkpoint_state (Mapping): The checkpoint's ``state_dict`` (or
            the checkpoint itself, if it holds no ``state_dict`` key).
        revise_keys (tuple): ``(pattern, replacement)`` applied to the
            checkpoint's keys, as ``Runner.load_checkpoint`` does. Defaults
            to stripping DDP's ``module.`` prefix.

    Returns:
        StateDictMismatch: Empty (false) if keys and shapes all match.
    """
    revised = {}
    for key, value in checkpoint_state.items():
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    shapes = {
        key: (tuple(revised[key].shape), tuple(value.shape))
        for key, value in model_state.items()
        if key in revised and isinstance(revised[key], torch.Tensor)
        and tuple(revised[key].shape) != tuple(value.shape)
    }
    return StateDictMismatch(
        missing=[key for key in model_state if key not in revised],
        unexpected=[key for key in revised if key not in model_state],
        shapes=shapes)


def _groups(keys) -> List[List[str]]:
    """Keys grouped by their module, numbered modules as one (``*``)."""
    groups: Dict[str, List[str]] = {}
    for key in keys:
        module = key.rpartition('.')[0]
        groups.setdefault(re.sub(r'(?<=\.)\d+(?=\.|$)', '*', module),
                          []).append(key)
    return list(groups.values())


def _module_name(keys: List[str]) -> str:
    """The module of a group, ``*`` where its keys' modules differ."""
    columns = zip(*(key.rpartition('.')[0].split('.') for key in keys))
    return '.'.join(
        names[0] if len(set(names)) == 1 else '*' for names in columns)


def _shape_summary(keys: List[str], shapes: Mapping) -> str:
    """``module: checkpoint has A classes, the config B`` for MMSeg's
    classifiers (``conv_seg``, first dimension only), else the first key's
    shapes."""
    module = _module_name(keys)
    pairs = [shapes[key] for key in keys]
    counts = {(ckpt[:1], model[:1]) for ckpt, model in pairs}
    if (module.rpartition('.')[2] == 'conv_seg' and len(counts) == 1
            and all(ckpt[1:] == model[1:] for ckpt, model in pairs)):
        (ckpt, ), (model, ) = counts.pop()
        return f'{module}: checkpoint has {ckpt} classes, the config {model}'
    ckpt, model = pairs[0]
    more = f' and {len(keys) - 1} more in {module}' if len(keys) > 1 else ''
    return f'{keys[0]}: checkpoint shape {ckpt}, the config {model}{more}'


def _key_summary(keys: List[str]) -> str:
    """A key, or a group of them as ``module.* (N keys)``."""
    if len(keys) == 1:
        return keys[0]
    return f'{_module_name(keys)} ({len(keys)} keys)'


def _first(names: List[str]) -> str:
    """At most ``MAX_GROUPS`` names, then how many more."""
    shown = ', '.join(names[:MAX_GROUPS])
    if len(names) > MAX_GROUPS:
        shown += f' and {len(names) - MAX_GROUPS} more'
    return shown


def check_state_dict(model: torch.nn.Module, state_dict: Dict[str,
                                                              torch.Tensor],
                     checkpoint: str) -> None:
    """Raise unless the checkpoint has exactly the model's keys and shapes
    (strict, as ``tools/test.py`` loads).

    Raises:
        CheckpointMismatchError: One line from
            :meth:`~mmseg_ocr_plus.utils.state_dict_check.StateDictMismatch.summary`,
            e.g. ``decode_head.*.conv_seg: checkpoint has 8 classes, the
            config 19``.
    """
    mismatch = compare_state_dicts(model.state_dict(), state_dict)
    if mismatch:
        raise CheckpointMismatchError(
            f'checkpoint {checkpoint} does not fit the config\'s model: '
            f'{mismatch.summary()}; pass the config it was trained with')


def load_weights(model: torch.nn.Module, checkpoint: str) -> dict:
    """Check and load a checkpoint into ``model`` (CPU first).

    Returns:
        dict: The checkpoint's ``meta`` (empty if none).

    Raises:
        CheckpointMismatchError: See :func:`check_state_dict`.
    """
    from mmengine.runner import CheckpointLoader, load_state_dict
    loaded = CheckpointLoader.load_checkpoint(
        str(checkpoint), map_location='cpu')
    state_dict = loaded.get('state_dict', loaded)
    state_dict = {  # DDP's prefix, as Runner.load_checkpoint strips it
        k[len('module.'):] if k.startswith('module.') else k: v
        for k, v in state_dict.items()
    }
    check_state_dict(model, state_dict, str(checkpoint))
    load_state_dict(model, state_dict, strict=False)
    return loaded.get('meta') or {}
