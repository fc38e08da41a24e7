"""Class statistics of a config's training set, and the config lines that
use them.

Counts the pixels of every class in the label maps of the config's train
dataset, as ``ClassStatisticsHook`` does before training (the same
function, :func:`mmseg_ocr_plus.datasets.class_statistics.count_class_pixels`),
prints the table, and writes to ``--out-dir``:

- ``class_statistics.json``: the counts;
- ``class_weight_<scheme>.json``: the weights, a list of floats, as MMSeg's
  ``CrossEntropyLoss(class_weight='<file>.json')`` loads them.

It prints the config lines that use them: ``class_weight='<file>'`` for
the losses and, with ``--num-rare-classes N``, ``rare_classes=[...]`` (the
N rarest classes present) for ``ClassAwareRandomCrop``.

Example::

    python tools/analysis_tools/class_statistics.py \\
        configs/demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py \\
        --scheme median_frequency --num-rare-classes 3
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Any, Dict, Optional, Sequence

import mmseg_ocr_plus  # noqa: F401  # isort: skip  (compat fixes first)
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from mmseg_ocr_plus.datasets.class_statistics import (
    SCHEMES,
    check_options,
    compute_class_weights,
    count_class_pixels,
    format_table,
    rarest_classes,
)
from mmseg_ocr_plus.utils.preflight import (
    check_config_path,
    check_dataloaders,
    run_tool,
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Class statistics and class weights of a training set')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--scheme',
        choices=SCHEMES,
        default='median_frequency',
        help='how to weight the classes (default: median_frequency)')
    parser.add_argument(
        '--num-rare-classes',
        type=int,
        default=0,
        help='print the N rarest classes as rare_classes for '
        'ClassAwareRandomCrop')
    parser.add_argument(
        '--out-dir',
        help='where to write the JSON files; default: '
        'work_dirs/<config name>/class_statistics')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as in tools/train.py')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Count, print and write; return the counts, with the weights
    (``class_weights``) and the rarest classes (``rare_classes``).

    Raises:
        InvalidInputError: For a missing config file or dataset path.
        ClassStatisticsError: For a bad option or training set.
    """
    args = parse_args(argv)
    check_options(args.scheme, args.num_rare_classes)
    check_config_path(args.config)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    check_dataloaders(cfg, ['train_dataloader'])
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset = DATASETS.build(cfg.train_dataloader.dataset)

    counts = count_class_pixels(dataset, progress=True)
    weights = compute_class_weights(counts, args.scheme)
    rare = rarest_classes(counts, args.num_rare_classes)
    print(format_table(counts, weights, args.scheme))

    out_dir = args.out_dir or osp.join(
        'work_dirs',
        osp.splitext(osp.basename(args.config))[0], 'class_statistics')
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'class_statistics.json'), 'w') as file:
        json.dump(counts, file, indent=1)
    lines = []
    if weights is not None:
        path = osp.abspath(osp.join(out_dir,
                                    f'class_weight_{args.scheme}.json'))
        with open(path, 'w') as file:
            json.dump(weights, file)
        lines.append(f"class_weight='{path}'  # in each softmax "
                     'CrossEntropyLoss of decode_head and auxiliary_head')
    if args.num_rare_classes:
        lines.append(f'rare_classes={rare}  # in ClassAwareRandomCrop of '
                     f'the train pipeline')
    print(f'\nWrote {osp.join(out_dir, "class_statistics.json")}' +
          ''.join(f'\nIn the config: {line}' for line in lines))
    return dict(counts, class_weights=weights, rare_classes=rare)


if __name__ == '__main__':
    sys.exit(run_tool(main))
