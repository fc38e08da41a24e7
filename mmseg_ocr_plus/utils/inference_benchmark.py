"""Inference speed of a segmentor's backends against a compute floor: the
backends, the targets and the report.

What ``tools/analysis_tools/benchmark_inference.py`` builds on. Each backend
times the same function, ``model._forward(inputs)`` (the logits, batch 1),
in a child process of its own (measured with
:mod:`~mmseg_ocr_plus.utils.inference_timing`).

Terms:

- rate: the machine's dense matmul throughput in GFLOP/s, the median of
  ``repeats`` n x n x n products (``matmul_rate``; n = 2048 at the
  benchmark's thread count on the CPU, 8192 on a GPU), one per dtype.
- floor: the time the model's multiply-accumulates would take at that rate,
  ``2 * MACs / rate`` (:func:`floor_seconds`); no real network reaches it,
  so a backend's ``x floor`` says how much of the machine it leaves unused.
- ``x stock``: a backend's median over MMSeg's stock model's median in the
  same dtype (fp32 rows against ``stock-fp32``, bf16 rows against
  ``stock-bf16``, fp16 rows against ``stock-fp16``).

Example (``matmul_rate`` from :mod:`~.inference_timing`)::

    >>> rates = {'bf16': matmul_rate(torch.bfloat16)}  # GFLOP/s
    >>> floors = {'bf16': floor_seconds(macs, rates['bf16'])}
    >>> medians = {'stock-bf16': 1.9, 'fast-bf16': 0.8}
    >>> for result in check_targets(medians, floors):
    ...     print(result.line())
"""
import importlib.util
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ..deploy.compiled_call import compile_unavailable_reason
from ..deploy.freed_memory import glibc_version

__all__ = [
    'BACKENDS', 'DEVICE_BACKENDS', 'DEVICE_DTYPES', 'TARGETS', 'TORCH_DTYPES',
    'Target', 'TargetResult', 'check_targets', 'floor_seconds',
    'format_table', 'reference_backend', 'summary_rows', 'unavailable_reason'
]

# Backend name -> the dtype its floor and stock reference are taken in.
BACKENDS: Dict[str, str] = {
    'stock-fp32': 'fp32',
    'stock-bf16': 'bf16',
    'stock-fp16': 'fp16',
    # MMSeg's model with channels-last weights and input: what the memory
    # format alone gives, for comparison (the ratios stay to stock-*)
    'stock-fp32-cl': 'fp32',
    'stock-bf16-cl': 'bf16',
    # MMSeg's model with freed memory kept in the process (glibc malloc)
    'stock-fp32-keepmem': 'fp32',
    'stock-bf16-keepmem': 'bf16',
    'ours-fp32': 'fp32',
    'fast-fp32': 'fp32',
    'fast-bf16': 'bf16',
    'fast-bf16-compile': 'bf16',
    'fast-fp16': 'fp16',
    # CUDA: the fast path channels-last, replayed as a CUDA graph, compiled
    'fast-fp16-cl': 'fp16',
    'fast-fp16-graph': 'fp16',
    'fast-fp16-compile': 'fp16',
    'ort-fp32': 'fp32',
    'openvino-fp32': 'fp32',
    'openvino-bf16': 'bf16',
}
# The backends and dtypes of each device, in the order they run.
DEVICE_BACKENDS: Dict[str, Tuple[str, ...]] = {
    'cpu': ('stock-fp32', 'stock-bf16', 'stock-fp32-cl', 'stock-bf16-cl',
            'stock-fp32-keepmem', 'stock-bf16-keepmem', 'ours-fp32',
            'fast-fp32', 'fast-bf16', 'fast-bf16-compile',
            'ort-fp32', 'openvino-fp32', 'openvino-bf16'),
    'cuda': ('stock-fp32', 'stock-fp16', 'ours-fp32', 'fast-fp32',
             'fast-fp16', 'fast-fp16-cl', 'fast-fp16-graph',
             'fast-fp16-compile'),
}
DEVICE_DTYPES: Dict[str, Tuple[str, ...]] = {
    'cpu': ('fp32', 'bf16'),
    'cuda': ('fp32', 'fp16'),
}
# Modules a backend needs beyond PyTorch and MMSeg.
REQUIRES: Dict[str, Tuple[str, ...]] = {
    'ort-fp32': ('onnx', 'onnxruntime'),
    'openvino-fp32': ('onnx', 'openvino'),
    'openvino-bf16': ('onnx', 'openvino'),
}
TORCH_DTYPES = {
    'fp32': torch.float32,
    'bf16': torch.bfloat16,
    'fp16': torch.float16
}


@dataclass
class Target:
    """``backend`` must take at most ``max_ratio`` times ``reference``.

    Args:
        backend (str): A name in :data:`BACKENDS`.
        reference (str): Another backend's name, or ``'floor'`` for the
            floor in the backend's dtype.
        max_ratio (float): The largest ratio that passes.
    """
    backend: str
    reference: str
    max_ratio: float

    def __str__(self) -> str:
        reference = (f'floor({BACKENDS[self.backend]})'
                     if self.reference == 'floor' else self.reference)
        return f'{self.backend} <= {self.max_ratio:g}x {reference}'


@dataclass
class TargetResult:
    """A target checked: ``status`` is ``'PASS'``, ``'FAIL'`` or
    ``'skipped (<reason>)'``; ``ratio`` is None when skipped."""
    target: Target
    status: str
    ratio: Optional[float] = None

    def line(self) -> str:
        measured = ('' if self.ratio is None else
                    f' (measured {self.ratio:.2f}x)')
        return f'{self.status:<4} {self.target}{measured}'


# The targets, on the CPU; on CUDA the same ones with fp16 in place
# of bf16 (the issue gives no GPU targets: these are for reading).
TARGETS: Dict[str, Tuple[Target, ...]] = {
    'cpu': (
        Target('fast-bf16', 'stock-bf16', 0.5),
        Target('fast-bf16', 'floor', 2.0),
        # the same, compiled
        Target('fast-bf16-compile', 'stock-bf16', 0.5),
        Target('fast-bf16-compile', 'floor', 2.0),
        Target('fast-fp32', 'stock-fp32', 0.5),
        Target('ort-fp32', 'stock-fp32', 0.5),
        # the exported model, where OpenVINO is installed
        Target('openvino-bf16', 'floor', 2.0),
    ),
    'cuda': (
        Target('fast-fp16', 'stock-fp16', 0.5),
        Target('fast-fp16', 'floor', 2.0),
        Target('fast-fp16-compile', 'floor', 2.0),
        Target('fast-fp32', 'stock-fp32', 0.5),
    ),
}


def reference_backend(backend: str) -> str:
    """The stock backend in ``backend``'s dtype (``stock-fp32``,
    ``stock-bf16`` or ``stock-fp16``).

    Raises:
        ValueError: For a name not in :data:`BACKENDS`.
    """
    if backend not in BACKENDS:
        raise ValueError(f'Expected a backend in {list(BACKENDS)}, got '
                         f'{backend!r}')
    return f'stock-{BACKENDS[backend]}'


def unavailable_reason(backend: str) -> Optional[str]:
    """Why ``backend`` cannot run here (a module not installed, or what
    ``torch.compile`` lacks, or a C library other than glibc for the
    ``-keepmem`` rows), or None."""
    missing = [m for m in REQUIRES.get(backend, ())
               if importlib.util.find_spec(m) is None]
    if missing:
        return f'{" and ".join(missing)} not installed'
    if backend.endswith('-compile'):
        device = 'cuda' if BACKENDS[backend] == 'fp16' else 'cpu'
        return compile_unavailable_reason(device)
    if backend.endswith('-keepmem') and not glibc_version():
        return 'the C library is not glibc'
    return None


def floor_seconds(macs: int, gflops: float) -> float:
    """``2 * macs`` floating point operations at ``gflops`` GFLOP/s.

    Raises:
        ValueError: If ``macs`` is negative or ``gflops`` not positive.
    """
    if macs < 0 or gflops <= 0:
        raise ValueError('Expected macs >= 0 and gflops > 0, got '
                         f'{macs} and {gflops}')
    return 2 * macs / (gflops * 1e9)


def _ratio(value: Optional[float],
           reference: Optional[float]) -> Optional[float]:
    if value is None or not reference:
        return None
    return value / reference


def check_targets(medians: Dict[str, float],
                  floors: Dict[str, float],
                  reasons: Optional[Dict[str, str]] = None,
                  targets: Sequence[Target] = TARGETS['cpu']
                  ) -> List[TargetResult]:
    """Check every target against measured medians.

    Args:
        medians (dict[str, float]): Seconds per image, by backend; backends
            that did not run are absent.
        floors (dict[str, float]): Floor in seconds by dtype (``'fp32'``,
            ``'bf16'``, ``'fp16'``); absent if the rate or MACs were not
            measured.
        reasons (dict[str, str], optional): Why an absent backend did not
            run (``'skipped (...)'``, ``'failed: ...'``). Defaults to None.
        targets (Sequence[Target]): Defaults to the CPU's
            :data:`TARGETS`.

    Returns:
        list[TargetResult]: One per target, in order.
    """
    reasons = reasons or {}
    results = []
    for target in targets:
        reference = (floors.get(BACKENDS[target.backend])
                     if target.reference == 'floor' else
                     medians.get(target.reference))
        ratio = _ratio(medians.get(target.backend), reference)
        if ratio is None:
            missing = [name for name in (target.backend, target.reference)
                       if name != 'floor' and name not in medians]
            why = '; '.join(f'{name} {reasons.get(name, "not run")}'
                            for name in missing) or 'floor not measured'
            results.append(TargetResult(target, f'skipped ({why})'))
        else:
            status = 'PASS' if ratio <= target.max_ratio else 'FAIL'
            results.append(TargetResult(target, status, ratio))
    return results


def summary_rows(results: Dict[str, dict],
                 floors: Dict[str, float]) -> List[dict]:
    """Per backend: its median, ``x stock`` and ``x floor`` in its dtype.

    Args:
        results (dict[str, dict]): By backend, in the order to print: a
            child's output (``median_s``, ``times_s``, ``peak_mib``) or
            ``{'status': 'skipped (...)'}`` / ``{'status': 'failed: ...'}``.
        floors (dict[str, float]): Floor in seconds by dtype.

    Returns:
        list[dict]: ``backend``, ``status``, ``median_s``, ``repeats``,
        ``x_stock``, ``x_floor``, ``peak_mib`` (None where not measured).
    """
    rows = []
    for backend, result in results.items():
        median = result.get('median_s')
        stock = results.get(reference_backend(backend), {}).get('median_s')
        rows.append(
            dict(
                backend=backend,
                status=result.get('status', 'ok'),
                median_s=median,
                repeats=len(result.get('times_s', ())),
                x_stock=_ratio(median, stock),
                x_floor=_ratio(median, floors.get(BACKENDS[backend])),
                peak_mib=result.get('peak_mib')))
    return rows


def format_table(rows: List[dict]) -> str:
    """:func:`summary_rows` as a plain-text table."""

    def num(value: Optional[float], spec: str) -> str:
        return '-' if value is None else format(value, spec)

    lines = [('backend', 's/img (median of N)', 'x stock', 'x floor',
              'peak MiB')]
    for row in rows:
        if row['median_s'] is None:
            lines.append((row['backend'], row['status'], '', '', ''))
            continue
        lines.append((row['backend'],
                      f'{row["median_s"]:.4f} (of {row["repeats"]})',
                      num(row['x_stock'], '.3f'), num(row['x_floor'], '.2f'),
                      num(row['peak_mib'], '.0f')))
    # A status ('skipped (...)') runs on past the columns it stands in.
    widths = [
        max(len(line[i]) for line in lines if line[2] or i == 0)
        for i in range(5)
    ]
    text = [
        '  '.join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
        for line in lines
    ]
    text.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(text)
