"""Refine any MMSeg model's label maps with a trained SegFix model, and
report mIoU and boundary F-score before and after.

SegFix (Yuan et al., ECCV 2020, https://arxiv.org/abs/2007.04269) predicts
a boundary map and directions on each image; every predicted boundary pixel
then takes the label of the pixel ``scale`` steps along its direction
(nearest lookup: no label id is invented). The images and ground truth are
those of the SegFix config's ``test_dataloader``; the label maps are read
from ``--pred-dir``, one ``<image name>.png`` per image, as
``tools/test.py --out`` writes them. The refined maps are written to
``--out`` under the same names, with ``segfix_metrics.json``.

Example::

    python tools/test.py OCRNET_CONFIG OCRNET_CKPT --out work_dirs/preds
    python tools/segfix_refine.py SEGFIX_CONFIG SEGFIX_CKPT \\
        --pred-dir work_dirs/preds --out work_dirs/preds_segfix
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, Optional, Sequence

import mmseg_ocr_plus  # noqa: F401  # isort: skip  (compat fixes first)
import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.evaluation import IoUMetric
from mmseg.registry import DATASETS, MODELS

from mmseg_ocr_plus.datasets.transforms import GenerateSegFixTargets
from mmseg_ocr_plus.evaluation import boundary_counts, boundary_f_scores
from mmseg_ocr_plus.utils.preflight import (
    InvalidInputError,
    check_checkpoint_path,
    check_config_path,
    check_dataloaders,
    run_tool,
)
from mmseg_ocr_plus.utils.segfix_refinement import (
    direction_offsets,
    refine_label_map,
)
from mmseg_ocr_plus.utils.state_dict_check import load_weights


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Refine label maps with SegFix; evaluate before/after')
    parser.add_argument('config', help='SegFix config file')
    parser.add_argument('checkpoint', help='SegFix checkpoint')
    parser.add_argument(
        '--pred-dir', required=True,
        help='label maps to refine (<image name>.png, tools/test.py --out)')
    parser.add_argument(
        '--out', required=True, help='directory for the refined label maps')
    parser.add_argument(
        '--scale', type=float, default=2,
        help='offset length in pixels per direction step (default: '
        '%(default)s, the reference\'s)')
    parser.add_argument(
        '--widths', type=float, nargs='+', default=[1, 3, 5],
        help='boundary F-score tolerances in pixels (default: %(default)s)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value (e.g. '
        'test_dataloader.dataset.data_root=DIR)')
    return parser.parse_args(argv)


class BeforeAfter:
    """mIoU and boundary F-score of the input and refined label maps."""

    def __init__(self, num_classes: int, widths: Sequence[float],
                 ignore_index: int):
        self.num_classes = num_classes
        self.widths = widths
        self.ignore_index = ignore_index
        self.areas = {k: np.zeros((2, num_classes)) for k in ('in', 'out')}
        self.counts = {
            k: np.zeros((len(widths), 4, num_classes), np.int64)
            for k in ('in', 'out')
        }

    def add(self, key: str, pred: np.ndarray, gt: np.ndarray) -> None:
        """Accumulate one label map (``key`` 'in' or 'out')."""
        intersect, union, _, _ = IoUMetric.intersect_and_union(
            torch.from_numpy(pred.astype(np.int64)),
            torch.from_numpy(gt.astype(np.int64)), self.num_classes,
            self.ignore_index)
        self.areas[key] += np.stack([intersect.numpy(), union.numpy()])
        self.counts[key] += boundary_counts(pred, gt, self.num_classes,
                                            self.widths, self.ignore_index)

    def metrics(self) -> Dict[str, Dict[str, float]]:
        """``{'before': {...}, 'after': {...}}``: mIoU and ``bF@{d}``, %."""
        result = {}
        for key, name in (('in', 'before'), ('out', 'after')):
            intersect, union = self.areas[key]
            with np.errstate(invalid='ignore', divide='ignore'):
                miou = 100 * np.nanmean(intersect / union)
            scores = boundary_f_scores(self.counts[key])
            result[name] = {'mIoU': round(float(miou), 2)}
            result[name].update({
                f'bF@{w:g}': round(float(s), 2)
                for w, s in zip(self.widths, scores)
            })
        return result


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Refine every label map of ``--pred-dir``; print the metrics.

    Raises:
        InvalidInputError: For a missing config, checkpoint, prediction
            directory or label map, or a label map of the wrong size.
    """
    args = parse_args(argv)
    check_config_path(args.config)
    check_checkpoint_path(args.checkpoint)
    if not osp.isdir(args.pred_dir):
        raise InvalidInputError(
            f'--pred-dir {args.pred_dir!r}: expected a directory of label '
            f'maps (tools/test.py --out), found nothing')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    check_dataloaders(cfg, ('test_dataloader', ))

    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    cfg.model.pretrained = None
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    load_weights(model, args.checkpoint)  # strict: one line on a mismatch
    model.eval()
    ignore_index = model.decode_head.ignore_index
    scores = BeforeAfter(
        len(dataset.metainfo['classes']), args.widths, ignore_index)
    os.makedirs(args.out, exist_ok=True)
    changed = total = 0
    for index in range(len(dataset)):
        with torch.no_grad():
            sample = model.test_step(pseudo_collate([dataset[index]]))[0]
        name = osp.splitext(osp.basename(sample.img_path))[0] + '.png'
        pred = cv2.imread(osp.join(args.pred_dir, name), cv2.IMREAD_UNCHANGED)
        if pred is None or pred.shape != tuple(sample.ori_shape[:2]):
            found = 'nothing' if pred is None else f'shape {pred.shape}'
            raise InvalidInputError(
                f'--pred-dir: expected a label map {name} of shape '
                f'{tuple(sample.ori_shape[:2])} for {sample.img_path}, '
                f'found {found}')
        offsets = direction_offsets(
            sample.pred_boundary_map.data[0].numpy(),
            sample.pred_direction_map.data[0].numpy(),
            GenerateSegFixTargets.directions, args.scale)
        refined = refine_label_map(pred, offsets, ignore_index)
        cv2.imwrite(osp.join(args.out, name), refined)
        changed += int((refined != pred).sum())
        total += pred.size
        if 'gt_sem_seg' in sample:
            gt = sample.gt_sem_seg.data[0].numpy()
            scores.add('in', pred, gt)
            scores.add('out', refined, gt)

    print(f'refined {len(dataset)} label maps into {args.out}: '
          f'{changed} of {total} pixels changed')
    if scores.counts['in'].any():
        metrics = scores.metrics()
        keys = list(metrics['before'])
        print('|        | ' + ' | '.join(keys) + ' |')
        for name in ('before', 'after'):
            print(f'| {name:6} | ' +
                  ' | '.join(f'{metrics[name][k]:.2f}' for k in keys) + ' |')
        metrics['changed_pixels'] = changed
        with open(osp.join(args.out, 'segfix_metrics.json'), 'w') as f:
            json.dump(metrics, f, indent=2)


if __name__ == '__main__':
    sys.exit(run_tool(main))
