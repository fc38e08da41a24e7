"""The benchmark's records as JSON-ready dicts and a Markdown table.

A record is one model: what was run (``config``, ``checkpoint``,
``sha256``), what was measured (``mIoU``, ``aAcc``, ``per_class_iou``,
``fps``, ``peak_memory_mb``, ...), what the zoo publishes (``published``)
and ``delta`` = measured - published, per figure both have. The table has
MMSeg's columns; each figure cell reads ``published / measured (delta)``.
"""
import math
import platform
from typing import Dict, List, Mapping, Optional, Sequence

import torch

__all__ = ['COLUMNS', 'deltas', 'environment', 'measured_figures',
           'render_markdown']

COLUMNS = ('Method', 'Backbone', 'Crop Size', 'Lr schd', 'Mem (GB)',
           'Inf time (fps)', 'mIoU', 'mIoU(ms+flip)', 'config', 'download')
# Table column -> published / measured key.
FIGURES = {
    'Mem (GB)': 'Memory (GB)',
    'Inf time (fps)': 'Inf time (fps)',
    'mIoU': 'mIoU',
    'mIoU(ms+flip)': 'mIoU(ms+flip)',
}


def environment(device: str) -> Dict[str, object]:
    """Versions, device and threads, for the JSON."""
    import mmengine
    import mmseg
    if device.startswith('cuda'):
        name = torch.cuda.get_device_name(0)
    else:
        name = _cpu_name()
    return dict(
        python=platform.python_version(),
        torch=torch.__version__,
        mmengine=mmengine.__version__,
        mmseg=mmseg.__version__,
        device=device,
        device_name=name,
        threads=torch.get_num_threads(),
        platform=platform.platform())


def _cpu_name() -> str:
    """The CPU's model name (Linux), else the architecture."""
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measured_figures(record: Mapping) -> Dict[str, Optional[float]]:
    """A record's measured figures under the published names: ``Memory
    (GB)`` is the training step's (MMSeg's "Mem" is training memory)."""
    train = record.get('train_step') or {}
    memory = train.get('peak_memory_mb')
    return {
        'mIoU': record.get('mIoU'),
        'mIoU(ms+flip)': record.get('mIoU(ms+flip)'),
        'Inf time (fps)': record.get('fps'),
        'Memory (GB)': None if memory is None else round(memory / 1024, 2),
    }


def deltas(published: Mapping, measured: Mapping) -> Dict[str, float]:
    """measured - published, per figure both have, rounded to 2 places."""
    return {
        key: round(measured[key] - published[key], 2)
        for key in FIGURES.values()
        if isinstance(published.get(key), (int, float))
        and isinstance(measured.get(key), (int, float))
        and not math.isnan(measured[key])
    }


def _cell(published: Optional[float], measured: Optional[float],
          delta: Optional[float]) -> str:
    if published is None and measured is None:
        return '-'
    text = f'{"-" if published is None else published} / ' \
           f'{"-" if measured is None else measured}'
    return text + (f' ({delta:+.2f})' if delta is not None else '')


def render_markdown(records: Sequence[Mapping], env: Mapping,
                    command: str) -> str:
    """The Markdown report: command, environment, table, failures.

    Args:
        records (Sequence[Mapping]): The records, in row order; a failed
            one has an ``error`` line and only its identity.
        env (Mapping): :func:`environment`.
        command (str): The command line.

    Returns:
        str: Markdown.
    """
    lines: List[str] = [
        '# Zoo benchmark', '', f'`{command}`', '',
        f"torch {env['torch']}, mmseg {env['mmseg']}, device "
        f"{env['device']} ({env['device_name']}), {env['threads']} threads. "
        'Cells: published / measured (measured - published). Mem: peak of '
        'one training step (--train-step); fps: batch 1, median after '
        'warm-up, test-pipeline image size.', '',
        '| ' + ' | '.join(('Source', 'Model') + COLUMNS) + ' |',
        '|' + '---|' * (len(COLUMNS) + 2)
    ]
    failures = []
    for record in records:
        if record.get('error'):
            failures.append(f"- {record['name']}: {record['error']}")
        published = record.get('published') or {}
        measured = measured_figures(record)
        delta = record.get('delta') or {}
        checkpoint = record.get('checkpoint') or '-'
        sha = record.get('sha256')
        download = (f'[{"model" if "://" in checkpoint else checkpoint}]'
                    f'({checkpoint})' if checkpoint != '-' else '-')
        if sha:
            download += f' sha256 {sha[:8]}'
        row = [record.get('source', '-'), record['name'], 'OCRNet',
               record.get('backbone', '-'), record.get('crop_size', '-'),
               record.get('lr_schd', '-')]
        for column in ('Mem (GB)', 'Inf time (fps)', 'mIoU',
                       'mIoU(ms+flip)'):
            key = FIGURES[column]
            row.append(
                _cell(published.get(key), measured.get(key), delta.get(key)))
        row += [f"[config]({record['config']})", download]
        lines.append('| ' + ' | '.join(str(c) for c in row) + ' |')
    if failures:
        lines += ['', 'Not measured:', *failures]
    train = [r for r in records if r.get('train_step')]
    if train:
        lines += [
            '', '| Model | Train step | Batch x crop | Time (s) | '
            'Peak memory (MB) |', '|---|---|---|---|---|'
        ]
        for record in train:
            for label in ('train_step', 'train_step_stock'):
                step = record.get(label)
                if step:
                    lines.append(
                        f"| {record['name']} | {step['type']} | "
                        f"{step['batch_size']} x {step['size'][0]}x"
                        f"{step['size'][1]} | {step['time_s']:.3f} | "
                        f"{step['peak_memory_mb']} |")
    return '\n'.join(lines) + '\n'
