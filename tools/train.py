"""Train a segmentor: a thin wrapper around MMEngine's ``Runner``.

The arguments are MMSeg's own ``tools/train.py``'s. Differences:

- ``mmseg_ocr_plus`` is imported first, so its compatibility fixes (MMSeg on
  mmcv-lite, ``mmseg::`` config inheritance, resuming on torch >= 2.6) are
  in place before the config is parsed;
- the config, and the data roots of the train and val datasets (images
  there, each with its label map), are checked before the ``Runner`` is
  built: a bad input is one line on stderr and exit status 2, and no work
  directory is created;
- checkpoints (``load_from``, ``--resume``) load strictly: keys or shapes
  that differ from the model's stop the run with one line naming the file
  (``CheckpointMatchHook``), unless ``--allow-partial`` is given; label
  maps are checked against the dataset's classes as they load;
- checkpoints are written atomically (``AtomicSaveRunner``); a
  non-finite loss stops the run (``NonFiniteLossHook``, in our configs);
- ``--amp`` uses MMEngine's ``AmpOptimWrapper`` (float16, dynamic loss
  scale) on a GPU and ``AutocastOptimWrapper`` (bfloat16) on the CPU;
- ``--launcher pytorch`` also runs on CPU (gloo), see
  :mod:`mmseg_ocr_plus.utils.cpu_distributed`.

Example::

    python tools/train.py \\
        configs/demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py
    python tools/train.py CONFIG --work-dir work_dirs/x --resume --amp
    bash tools/dist_train.sh CONFIG 4 --amp
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional, Sequence

import mmseg_ocr_plus  # noqa: F401  # isort: skip  (compat fixes first)
from mmengine.config import Config, DictAction
from mmseg.registry import RUNNERS

from mmseg_ocr_plus.engine import AtomicSaveRunner
from mmseg_ocr_plus.engine.optimizers import enable_amp
from mmseg_ocr_plus.utils.cpu_distributed import setup_cpu_distributed
from mmseg_ocr_plus.utils.preflight import (
    check_config_path,
    check_dataloaders,
    resume_checkpoint,
    run_tool,
    set_label_classes,
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line, MMSeg's ``tools/train.py`` arguments."""
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        default=False,
        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        default=False,
        help='load a checkpoint (load_from, --resume) whose keys or shapes '
        'differ from the model\'s: matching weights only, as MMEngine does, '
        'logging every key skipped (e.g. to fine-tune on other classes)')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training (float16 on GPU, '
        'bfloat16 on CPU)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Check the inputs, build the ``Runner`` and train.

    Args:
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` if
            ``None``.

    Raises:
        InvalidInputError: For a missing config file or dataset path, or
            a ``last_checkpoint`` naming no file.
        UnreadableCheckpointError, CheckpointMismatchError: For a
            checkpoint that cannot load, or does not fit the model.
        UnreadableImageError, InvalidLabelMapError, NonFiniteLossError:
            While training. ``run_tool`` prints each as one line, exit
            status 2.
    """
    args = parse_args(argv)

    check_config_path(args.config)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    loaders = ['train_dataloader']
    if all(
            cfg.get(key) is not None
            for key in ('val_dataloader', 'val_cfg', 'val_evaluator')):
        loaders.append('val_dataloader')  # the Runner will validate
    check_dataloaders(cfg, loaders)
    set_label_classes(cfg, loaders)

    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        enable_amp(cfg)
    cfg.resume = args.resume
    checkpoint = (resume_checkpoint(cfg, cfg.work_dir)
                  if args.resume else cfg.get('load_from'))
    if checkpoint:
        cfg.custom_hooks = [
            *cfg.get('custom_hooks', []),
            dict(
                type='CheckpointMatchHook',
                checkpoint=checkpoint,
                allow_partial=args.allow_partial)
        ]
    setup_cpu_distributed(cfg)

    if 'runner_type' not in cfg:
        runner = AtomicSaveRunner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    sys.exit(run_tool(main))
