"""Parameters and multiply-accumulates of a segmentor, split by part.

MMSeg's ``tools/analysis_tools/get_flops.py`` reads
``cfg.model.decode_head.type`` and so fails on cascade models, whose
``decode_head`` is a list (upstream issue 3781). Here the count comes from
the built model: MMEngine's :class:`~mmengine.analysis.FlopAnalyzer` traces
one inference forward (``mode='tensor'``) and attributes every operator to
the module whose ``__call__`` runs it; the parts are the segmentor's
children (``backbone``, ``neck``, every entry of ``decode_head`` and
``auxiliary_head``).

Counting follows fvcore, as MMEngine does: one fused multiply-add is one
operation (so the figures are MACs; MMSeg's script prints the same number
under the name GFLOPs), convolutions, matrix products (``baddbmm`` too,
which MMEngine leaves out), norms and interpolations are counted, and
element-wise activations, softmax and pooling are not (they are listed as
``unsupported``). Auxiliary heads do not run at inference, so they get
parameters and no MACs.

This module imports nothing from MMSeg at import time: ``mmseg_ocr_plus.utils``
is imported before the compatibility fixes are applied.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

__all__ = ['ModelComplexity', 'PartComplexity', 'model_complexity']


@dataclass
class PartComplexity:
    """One part of a segmentor.

    Args:
        name (str): Attribute path in the segmentor (``decode_head.1``).
        type (str): Class name of the module (``OCRPlusHead``).
        params (int): Number of parameters.
        macs (int): Multiply-accumulates of one inference forward; 0 for
            parts that do not run at inference (auxiliary heads).
        runs_at_inference (bool): Whether the part runs at inference.
    """
    name: str
    type: str
    params: int
    macs: int
    runs_at_inference: bool = True


@dataclass
class ModelComplexity:
    """Parameters and MACs of a segmentor, in total and per part.

    Args:
        input_shape (tuple[int, int, int, int]): ``(B, C, H, W)`` analysed.
        parts (list[PartComplexity]): The segmentor's parts, in order.
        params (int): All parameters of the model.
        macs (int): MACs of one inference forward of the whole model.
        unsupported_ops (Counter): Operators not counted, and how often
            each ran.
    """
    input_shape: tuple
    parts: list = field(default_factory=list)
    params: int = 0
    macs: int = 0
    unsupported_ops: Counter = field(default_factory=Counter)

    def table(self) -> str:
        """The parts as a plain-text table (params in M, MACs in G)."""
        rows = [('part', 'type', 'params (M)', 'GMACs')]
        for part in self.parts:
            macs = (f'{part.macs / 1e9:.2f}'
                    if part.runs_at_inference else '- (train only)')
            rows.append((part.name, part.type, f'{part.params / 1e6:.2f}',
                         macs))
        rows.append(('total', '', f'{self.params / 1e6:.2f}',
                     f'{self.macs / 1e9:.2f}'))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            '  '.join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in rows
        ]
        lines.insert(1, '  '.join('-' * w for w in widths))
        return '\n'.join(lines)


def _parts(model: nn.Module) -> list:
    """``(name, module, runs_at_inference)`` for every part of a segmentor,
    in the order of ``model.named_children()``."""
    from torch import nn

    parts = []
    for name, child in model.named_children():
        if sum(p.numel() for p in child.parameters()) == 0:
            continue  # data_preprocessor, loss-only modules
        at_inference = name != 'auxiliary_head'
        if isinstance(child, nn.ModuleList):
            parts += [(f'{name}.{i}', head, at_inference)
                      for i, head in enumerate(child)]
        else:
            parts.append((name, child, at_inference))
    return parts


def _baddbmm_macs(inputs: list, outputs: list) -> int:
    """``aten::baddbmm(_)(input, batch1, batch2, beta, alpha)``: the MACs of
    ``batch1 @ batch2``; the addition is not counted, as for ``addmm``.
    MMEngine has no handle for it (``OCRPlusHead``'s fuse uses it)."""
    from mmengine.analysis.jit_handles import get_shape

    n, c, t = get_shape(inputs[1])
    return n * c * t * get_shape(inputs[2])[-1]


def model_complexity(model: nn.Module,
                     input_shape: tuple = (1, 3, 512, 1024)
                     ) -> ModelComplexity:
    """Count parameters and inference MACs of a segmentor, by part.

    Args:
        model (nn.Module): A built segmentor (MMSeg ``BaseSegmentor``);
            SyncBN must be reverted on CPU. It is put in eval mode.
        input_shape (tuple[int, int, int, int]): ``(B, C, H, W)`` of the
            input tensor. Defaults to ``(1, 3, 512, 1024)``.

    Returns:
        ModelComplexity: Totals and the per-part split.

    Raises:
        ValueError: If ``input_shape`` is not four positive ints.
    """
    import torch
    from mmengine.analysis import FlopAnalyzer

    if (len(input_shape) != 4
            or not all(isinstance(n, int) and n > 0 for n in input_shape)):
        raise ValueError('input_shape: expected (B, C, H, W), four positive '
                         f'ints, got {input_shape!r}')
    model.eval()
    inputs = torch.rand(input_shape)
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, (inputs, ))
        analyzer.set_op_handle(**{
            'aten::baddbmm': _baddbmm_macs,
            'aten::baddbmm_': _baddbmm_macs
        })
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        analyzer.tracer_warnings('none')
        by_module = analyzer.by_module()
        result = ModelComplexity(
            input_shape=tuple(input_shape),
            params=sum(p.numel() for p in model.parameters()),
            macs=analyzer.total(),
            unsupported_ops=analyzer.unsupported_ops())
    for name, module, at_inference in _parts(model):
        result.parts.append(
            PartComplexity(
                name=name,
                type=type(module).__name__,
                params=sum(p.numel() for p in module.parameters()),
                macs=by_module.get(name, 0) if at_inference else 0,
                runs_at_inference=at_inference))
    return result
