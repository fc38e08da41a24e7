"""Write the procedural Cityscapes-format demo dataset.

A thin command line over
:func:`mmseg_ocr_plus.datasets.generate_demo_dataset`; the defaults are that
function's, and the demo configs read ``data/demo_cityscapes``.

Example::

    python tools/misc/make_demo_dataset.py
    python tools/misc/make_demo_dataset.py data/demo_big --num-train 400 \\
        --num-val 100 --size 512 1024 --seed 1
"""
from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Sequence

from mmseg_ocr_plus.datasets import generate_demo_dataset

DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(
        generate_demo_dataset).parameters.items()
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` if None.
    """
    parser = argparse.ArgumentParser(
        description='Write a Cityscapes-format dataset of procedurally drawn '
        'street scenes (train ids 0-18, 255 ignored).')
    parser.add_argument(
        'out_dir', nargs='?', default=DEFAULTS['out_dir'],
        help='dataset root (default: %(default)s)')
    parser.add_argument(
        '--num-train', type=int, default=DEFAULTS['num_train'],
        help='training images (default: %(default)s)')
    parser.add_argument(
        '--num-val', type=int, default=DEFAULTS['num_val'],
        help='validation images (default: %(default)s)')
    parser.add_argument(
        '--size', type=int, nargs=2, metavar=('H', 'W'),
        default=DEFAULTS['size'],
        help='image height and width (default: %(default)s)')
    parser.add_argument(
        '--seed', type=int, default=DEFAULTS['seed'],
        help='seed; the same seed gives identical files (default: '
        '%(default)s)')
    parser.add_argument(
        '--cities', nargs='+', default=DEFAULTS['cities'],
        help='city names used in the file layout (default: %(default)s)')
    parser.add_argument(
        '--overwrite', action='store_true',
        help='replace OUT_DIR even if it is not an earlier demo dataset')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the dataset and print a one-line summary.

    Args:
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        int: Exit status: 0, or 2 for a bad option or output directory.
    """
    args = parse_args(argv)
    try:
        summary = generate_demo_dataset(
            args.out_dir,
            num_train=args.num_train,
            num_val=args.num_val,
            size=tuple(args.size),
            seed=args.seed,
            cities=tuple(args.cities),
            overwrite=args.overwrite)
    except (ValueError, FileExistsError) as err:
        print(f'make_demo_dataset.py: error: {err}', file=sys.stderr)
        return 2
    print(summary)
    return 0


if __name__ == '__main__':
    sys.exit(main())
