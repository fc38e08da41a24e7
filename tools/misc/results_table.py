"""Render the README results table from ``configs/ocrnet_plus/metafile.yaml``.

One row per config, in MMSeg's columns. Mem, fps, mIoU and mIoU(ms+flip)
quote the equivalent MMSeg model-zoo model ("MMSeg Zoo" in the metafile,
with its source); Params and GMACs are ours, measured with
``tools/analysis_tools/get_flops.py``; our own mIoU columns show a value
only once a run of ours is recorded under ``Results``.

Example::

    python tools/misc/results_table.py          # print the table
    python tools/misc/results_table.py --check  # exit 1 if README differs
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import yaml

ROOT = Path(__file__).resolve().parents[2]
METAFILE = ROOT / 'configs' / 'ocrnet_plus' / 'metafile.yaml'
README = ROOT / 'README.md'
COLUMNS = ('Method', 'Backbone', 'Crop Size', 'Lr schd', 'Mem (GB)',
           'Inf time (fps)', 'mIoU', 'mIoU(ms+flip)', 'Params (M)', 'GMACs',
           'our mIoU', 'our mIoU(ms+flip)', 'config', 'download')


def _cell(value: object) -> str:
    return '-' if value is None else str(value)


def _our_metric(model: dict, name: str) -> Optional[float]:
    results = model.get('Results') or []
    if not isinstance(results, list):  # MMSeg's layout: published figures
        return None
    for result in results:
        if name in result.get('Metrics', {}):
            return result['Metrics'][name]
    return None


def render(metafile: Path = METAFILE) -> List[str]:
    """The tables' lines: per training dataset, in the metafile's order, a
    ``#### <dataset>`` heading, a blank line, the header, the rule and one
    row per model."""
    models = yaml.safe_load(metafile.read_text())['Models']
    lines: List[str] = []
    for model in models:
        meta, zoo = model['Metadata'], model.get('MMSeg Zoo', {})
        heading = f"#### {meta['Training Data']}"
        if heading not in lines:
            lines += ([''] if lines else []) + [
                heading, '', '| ' + ' | '.join(COLUMNS) + ' |',
                '|' + '---|' * len(COLUMNS)
            ]
        download = f"[model]({zoo['Weights']})" if 'Weights' in zoo else '-'
        row = [
            # 'OCRNet', or 'OCRNet + RMI' for a recipe
            ' + '.join(meta['Architecture'][1:]),
            meta['Architecture'][0], meta['Crop Size'],
            meta['Lr schd'],
            zoo.get('Memory (GB)'),
            zoo.get('Inf time (fps)'),
            zoo.get('mIoU'),
            zoo.get('mIoU(ms+flip)'), meta['Parameters (M)'], meta['GMACs'],
            _our_metric(model, 'mIoU'),
            _our_metric(model, 'mIoU(ms+flip)'),
            f"[config]({model['Config']})", download
        ]
        lines.append('| ' + ' | '.join(_cell(v) for v in row) + ' |')
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the table, or with ``--check`` compare it with the README."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--check',
        action='store_true',
        help='exit 1 unless README.md holds exactly this table')
    args = parser.parse_args(argv)
    lines = render()
    if not args.check:
        print('\n'.join(lines))
        return 0
    if '\n'.join(lines) in README.read_text():
        return 0
    print(f'{README}: the results table differs from {METAFILE}; '
          'run python tools/misc/results_table.py and paste its output',
          file=sys.stderr)
    return 1


if __name__ == '__main__':
    sys.exit(main())
