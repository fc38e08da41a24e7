"""Test (and evaluate) a segmentor: a thin wrapper around MMEngine's
``Runner``.

The arguments are MMSeg's own ``tools/test.py``'s. Differences:

- ``mmseg_ocr_plus`` is imported first, so its compatibility fixes are in
  place before the config is parsed and the checkpoint is loaded;
- the config, the checkpoint and the data root of the test dataset
  (images there, each with its label map) are checked before the
  ``Runner`` is built: a bad input is one line on stderr and exit status 2,
  and no work directory is created;
- the checkpoint loads strictly: keys or shapes that differ from the
  model's stop the run with one line naming the file
  (``CheckpointMatchHook``), unless ``--allow-partial`` is given; label
  maps are checked against the dataset's classes as they load;
- ``--launcher pytorch`` also runs on CPU (gloo);
- ``--fast {fp32,bf16,fp16}`` tests the fast inference path
  (``FastInferenceHook``: BatchNorm folded, dropout removed, channels-last
  on CPU, bf16/fp16 autocast, and on CPU freed memory kept in the process
  for reuse), ``--compile`` with it compiles that path (``torch.compile``,
  Inductor with freezing);
- ``--segfix SEGFIX_CONFIG SEGFIX_CHECKPOINT`` refines the predictions
  with SegFix in the same pass (``SegFixRefiner``): the config's evaluator
  (and ``--out``, ``--show-dir``) sees the refined label maps, and the
  metrics add ``before/mIoU`` and ``before/bF@1/3/5`` of the unrefined
  ones and ``bF@1/3/5`` of the refined ones.

Example::

    python tools/test.py CONFIG work_dirs/demo/iter_200.pth --show-dir vis
    python tools/test.py CONFIG work_dirs/demo/iter_200.pth --fast bf16
    python tools/test.py CONFIG CHECKPOINT --fast bf16 --compile
    python tools/test.py CONFIG CHECKPOINT --segfix SEGFIX_CONFIG SEGFIX_CKPT
    bash tools/dist_test.sh CONFIG CHECKPOINT 4 --out preds
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional, Sequence

import mmseg_ocr_plus  # noqa: F401  # isort: skip  (compat fixes first)
from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

from mmseg_ocr_plus.models.segmentors.segfix_refiner import (
    normalisation_mismatch,
)
from mmseg_ocr_plus.utils.cpu_distributed import setup_cpu_distributed
from mmseg_ocr_plus.utils.preflight import (
    InvalidInputError,
    check_checkpoint_path,
    check_config_path,
    check_dataloaders,
    run_tool,
    set_label_classes,
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line, MMSeg's ``tools/test.py`` arguments."""
    parser = argparse.ArgumentParser(
        description='MMSeg test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        default=False,
        help='test with a checkpoint whose keys or shapes differ from the '
        'model\'s: matching weights only, the rest as initialised, as '
        'MMEngine does, logging every key skipped')
    parser.add_argument(
        '--work-dir',
        help=('if specified, the evaluation metric results will be dumped '
              'into the directory as json'))
    parser.add_argument(
        '--out',
        type=str,
        help='The directory to save output prediction for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved, in its '
        'vis_data/vis_image/; every image is drawn unless '
        'default_hooks.visualization.interval is set')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
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
    parser.add_argument(
        '--tta', action='store_true', help='Test time augmentation')
    parser.add_argument(
        '--fast',
        choices=['fp32', 'bf16', 'fp16'],
        help='test the fast inference path (prepare_for_inference) in this '
        'precision: bf16 on CPU, fp16 on CUDA')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='with --fast: also torch.compile the model (Inductor, freezing; '
        'one compile per input size, minutes for HRNet-W18 on 2 cores)')
    parser.add_argument(
        '--segfix',
        nargs=2,
        metavar=('SEGFIX_CONFIG', 'SEGFIX_CHECKPOINT'),
        help='refine the predictions with this SegFix model in the same '
        'pass; report mIoU and boundary F-score before and after')
    parser.add_argument(
        '--segfix-scale',
        type=float,
        default=2,
        help='SegFix offset length in pixels per direction step (default: '
        '%(default)s, the reference\'s)')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.compile and not args.fast:
        raise InvalidInputError('--compile: expected --fast too (it compiles '
                                'the fast inference path)')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def trigger_visualization_hook(cfg: Config,
                               args: argparse.Namespace) -> None:
    """Turn on drawing in the ``visualization`` hook for ``--show(-dir)``.

    Args:
        cfg (Config): The config; changed in place.
        args (argparse.Namespace): The parsed arguments.

    Raises:
        InvalidInputError: If ``default_hooks`` has no ``visualization``.
    """
    visualization_hook = cfg.default_hooks.get('visualization')
    if visualization_hook is None:
        raise InvalidInputError(
            '--show/--show-dir: expected a visualization hook in '
            "default_hooks, e.g. visualization=dict("
            "type='SegVisualizationHook'), found none")
    visualization_hook['draw'] = True
    # Every image, unless the config chose (the hook's default is 50).
    visualization_hook.setdefault('interval', 1)
    if args.show:
        visualization_hook['show'] = True
        visualization_hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir


def add_segfix(cfg: Config, args: argparse.Namespace) -> None:
    """Wrap the model in ``SegFixRefiner``; score before and after.

    The config's evaluator scores the refined ``pred_sem_seg``; added are a
    ``ConfusionIoUMetric`` and a ``BoundaryFScore`` of the unrefined
    ``pred_sem_seg_raw`` (prefix ``before``) and a ``BoundaryFScore`` of
    the refined maps, unless the config has one.

    Args:
        cfg (Config): The config; changed in place.
        args (argparse.Namespace): The parsed arguments.

    Raises:
        InvalidInputError: For a missing SegFix config or checkpoint, or if
            the two configs normalise images differently.
    """
    segfix_config, segfix_checkpoint = args.segfix
    try:
        check_config_path(segfix_config)
        check_checkpoint_path(segfix_checkpoint)
    except InvalidInputError as err:
        raise InvalidInputError(f'--segfix: {err}') from None
    segfix_model = Config.fromfile(segfix_config).model
    mismatch = normalisation_mismatch(
        cfg.model.get('data_preprocessor'),
        segfix_model.get('data_preprocessor'))
    if mismatch:
        raise InvalidInputError(
            f'--segfix: expected {segfix_config!r} to normalise images as '
            f'{args.config!r} does (SegFix runs on its inputs), found '
            f'{mismatch} ({args.config} vs {segfix_config})')
    cfg.model = dict(
        type='SegFixRefiner',
        module=cfg.model,
        segfix_config=segfix_config,
        segfix_checkpoint=segfix_checkpoint,
        scale=args.segfix_scale)
    evaluators = cfg.test_evaluator
    if not isinstance(evaluators, (list, tuple)):
        evaluators = [evaluators]
    ignore_index = next((e['ignore_index'] for e in evaluators
                         if 'ignore_index' in e), 255)
    added = [
        dict(
            type='ConfusionIoUMetric',
            pred_key='pred_sem_seg_raw',
            ignore_index=ignore_index,
            prefix='before'),
        dict(
            type='BoundaryFScore',
            pred_key='pred_sem_seg_raw',
            ignore_index=ignore_index,
            prefix='before'),
    ]
    if not any(e.get('type') == 'BoundaryFScore' for e in evaluators):
        added.append(dict(type='BoundaryFScore', ignore_index=ignore_index))
    cfg.test_evaluator = [*evaluators, *added]


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Check the inputs, build the ``Runner`` and test.

    Args:
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` if
            ``None``.

    Raises:
        InvalidInputError: For a missing config, checkpoint or dataset
            path, or a bad ``--segfix``.
        UnreadableCheckpointError, CheckpointMismatchError: For a
            checkpoint that cannot load, or does not fit the model.
        UnreadableImageError, InvalidLabelMapError: While testing.
            ``run_tool`` prints each as one line, exit status 2.
    """
    args = parse_args(argv)
    if args.segfix and args.tta:
        raise InvalidInputError(
            '--segfix: expected no --tta, found both (SegFix would have to '
            'refine every augmented view, and mirror its directions on '
            'flips); run one of them')

    check_config_path(args.config)
    check_checkpoint_path(args.checkpoint)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    cfg.load_from = args.checkpoint
    cfg.custom_hooks = [
        *cfg.get('custom_hooks', []),
        dict(
            type='CheckpointMatchHook',
            checkpoint=args.checkpoint,
            allow_partial=args.allow_partial)
    ]
    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args)
    if args.tta:
        missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
        if missing:
            raise InvalidInputError(
                f'--tta: expected {" and ".join(missing)} in the config '
                f'{args.config!r}, found none')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    check_dataloaders(cfg, ('test_dataloader', ))
    set_label_classes(cfg, ('test_dataloader', ))

    # add output_dir in metric
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    if args.segfix:
        add_segfix(cfg, args)
    if args.fast:
        cfg.custom_hooks = [
            *cfg.get('custom_hooks', []),
            dict(type='FastInferenceHook', dtype=args.fast,
                 compile=args.compile, keep_freed_memory=True)
        ]
    setup_cpu_distributed(cfg)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.test()


if __name__ == '__main__':
    sys.exit(run_tool(main))
