"""Write the procedural Cityscapes-format demo dataset.

A thin command line over :func:`demo_scenes.generate_demo_dataset` (beside
this script); the defaults are that function's, and the demo configs read
``data/demo_cityscapes``.

Example::

    python tools/misc/make_demo_dataset.py
    python tools/misc/make_demo_dataset.py data/demo_big --num-train 400 \\
        --num-val 100 --size 512 1024 --seed 1
"""
from __future__ import annotations

import argparse
import inspect
import sys
import time
from collections.abc import Sequence

from demo_scenes import generate_demo_dataset  # this script's directory

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


def summary(meta: dict, out_dir: str, seconds: float) -> str:
    """One line on a written dataset: image counts and size, where, how long
    it took, and each class's share of the pixels.

    Args:
        meta (dict): What :func:`generate_demo_dataset` returned.
        out_dir (str): Where it wrote the dataset.
        seconds (float): How long that took.
    """
    total = max(sum(meta['class_pixels']), 1)
    shares = ' '.join(
        f'{name.replace(" ", "_")}={count / total:.1%}' for name, count in zip(
            meta['classes'] + ['ignore'], meta['class_pixels']))
    images = meta['num_train'] + meta['num_val']
    height, width = meta['size']
    return (f'{meta["num_train"]} train + {meta["num_val"]} val images of '
            f'{height}x{width} in {out_dir} ({seconds:.1f} s, '
            f'{1000 * seconds / images:.0f} ms/image); pixels: {shares}')


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the dataset and print a one-line summary.

    Args:
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        int: Exit status: 0, or 2 for a bad option or output directory.
    """
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        meta = generate_demo_dataset(
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
    print(summary(meta, args.out_dir, time.perf_counter() - start))
    return 0


if __name__ == '__main__':
    sys.exit(main())
