"""Per-class share of cropped pixels: MMSeg's RandomCrop vs ours.

Crops every training label map of a Cityscapes-layout dataset ``--draws``
times with MMSeg's ``RandomCrop`` and with ``ClassAwareRandomCrop`` and
prints, per class, its share of the dataset's pixels, of the cropped pixels
and of the crops that hold it. Without ``--data-root`` a demo dataset is
generated into a temporary directory.

Example::

    python tools/analysis_tools/crop_statistics.py --crop-size 64 64
"""
import argparse
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import mmseg_ocr_plus  # noqa: F401  (its compat fixes go before MMSeg)

# isort: split
import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.datasets.transforms import RandomCrop

from mmseg_ocr_plus.datasets import ClassAwareRandomCrop

# The demo scene generator is a tool too, in tools/misc: a script's own
# directory is on sys.path, its sibling's is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'misc'))
from demo_scenes import (  # noqa: E402
    CLASSES,
    IGNORE_INDEX,
    draw_scene,
    image_rng,
)

NUM_BINS = 256  # label values of an 8-bit label map


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--data-root',
        help='dataset with gtFine/train/*/*_labelTrainIds.png; default: the '
        'demo dataset')
    parser.add_argument(
        '--num-images', type=int, default=20, help='demo images to generate')
    parser.add_argument(
        '--size', type=int, nargs=2, default=[128, 256], metavar=('H', 'W'),
        help='demo image size')
    parser.add_argument(
        '--crop-size', type=int, nargs=2, default=[64, 64],
        metavar=('H', 'W'))
    parser.add_argument(
        '--draws', type=int, default=100, help='crops per image')
    parser.add_argument('--prob', type=float, default=0.5)
    parser.add_argument('--cat-max-ratio', type=float, default=1.0)
    parser.add_argument(
        '--rare-classes', type=int, nargs='*', default=None)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def load_label_maps(root: Path) -> List[np.ndarray]:
    """The training label maps under ``root``, sorted by path."""
    paths = sorted(root.glob('gtFine/train/*/*_labelTrainIds.png'))
    if not paths:
        raise FileNotFoundError(
            f'Expected label maps gtFine/train/*/*_labelTrainIds.png under '
            f'{root}, found none')
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in paths]


def crop_statistics(label_maps: Iterable[np.ndarray],
                    transform: BaseTransform,
                    draws: int) -> Tuple[np.ndarray, np.ndarray]:
    """Crop each label map ``draws`` times and count what the crops hold.

    Args:
        label_maps (Iterable[np.ndarray]): 8-bit label maps ``[H, W]``.
        transform (BaseTransform): A crop transform.
        draws (int): Crops per label map.

    Returns:
        tuple[np.ndarray, np.ndarray]: Per label value (256 bins), the
        cropped pixels and the crops holding it.
    """
    pixels = np.zeros(NUM_BINS, np.int64)
    crops = np.zeros(NUM_BINS, np.int64)
    for seg in label_maps:
        for _ in range(draws):
            results = transform(
                dict(img=seg[..., None], gt_seg_map=seg,
                     seg_fields=['gt_seg_map']))
            counts = np.bincount(
                results['gt_seg_map'].ravel(), minlength=NUM_BINS)
            pixels += counts
            crops += counts > 0
    return pixels, crops


def share(counts: np.ndarray) -> np.ndarray:
    """Per-class share of the counted (non-ignored) pixels, in %."""
    counts = counts[:len(CLASSES)]
    return 100 * counts / max(int(counts.sum()), 1)


def report(label_maps: List[np.ndarray],
           stats: Dict[str, Tuple[np.ndarray, np.ndarray]],
           draws: int) -> str:
    """A table of class shares: dataset, then pixels and crops per
    transform."""
    data = sum(np.bincount(s.ravel(), minlength=NUM_BINS)
               for s in label_maps)
    num_crops = draws * len(label_maps)
    names = list(stats)
    header = f'{"class":<14}{"data px%":>9}' + ''.join(
        f'{n[:10] + " px%":>15}{n[:10] + " in%":>15}' for n in names)
    lines = [header]
    for i, name in enumerate(CLASSES):
        row = f'{name:<14}{share(data)[i]:>9.2f}'
        for pixels, crops in stats.values():
            row += f'{share(pixels)[i]:>15.2f}'
            row += f'{100 * crops[i] / num_crops:>15.1f}'
        lines.append(row)
    lines.append(f'({num_crops} crops per transform; px%: share of the '
                 f'non-ignored pixels, in%: share of crops holding the '
                 f'class; label {IGNORE_INDEX} not counted)')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    if args.data_root is not None:
        label_maps = load_label_maps(Path(args.data_root))
    else:
        label_maps = [
            draw_scene(image_rng(args.seed, 'train', i), *args.size)[1]
            for i in range(args.num_images)
        ]
    crop_size = tuple(args.crop_size)
    ours = ClassAwareRandomCrop(
        crop_size, prob=args.prob, cat_max_ratio=args.cat_max_ratio,
        rare_classes=args.rare_classes, seed=args.seed)
    np.random.seed(args.seed)  # RandomCrop draws from the global state
    stats = {
        'RandomCrop': crop_statistics(
            label_maps, RandomCrop(crop_size, args.cat_max_ratio),
            args.draws),
        'ClassAware': crop_statistics(label_maps, ours, args.draws),
    }
    text = f'{ours!r}\n' + report(label_maps, stats, args.draws)
    print(text)
    return text


if __name__ == '__main__':
    main()
