"""Benchmark checkpoints against their published model-zoo figures, on your
data and hardware.

Per model: mIoU, aAcc and per-class IoU on the config's test split
(``--tta``: also ms+flip), batch-1 inference fps and peak memory, and with
``--train-step`` the time and memory of a training step for the config's
model and MMSeg's stock equivalent. Writes ``WORK_DIR/zoo_benchmark.json``
(every figure, the environment, the checkpoint's sha256, the command),
``WORK_DIR/zoo_benchmark.md`` (MMSeg's columns, published / measured
(difference)), per-model plots (per-class IoU, confusion matrix) under
``WORK_DIR/runs/<model>/*/vis_data/vis_image/`` and a side-by-side per-class
chart in ``WORK_DIR/plots/vis_data/vis_image/``. ``--update-metafile``
writes the measured figures, with their provenance, into the ``Results`` of
``configs/ocrnet_plus/metafile.yaml``; ``tools/misc/results_table.py``
renders them into the README's "our" columns.

A model that cannot be run (a checkpoint that cannot be downloaded, one for
another number of classes) is one line on stderr and in the report; the
other models still run, and the exit status is then 2.

Examples::

    # Our configs and MMSeg's of the same name, zoo weights (downloaded, or
    # from a directory of files named as the zoo names them)
    python tools/analysis_tools/zoo_benchmark.py \\
        --models 'ocrnet_hr18*_4xb2-40k_cityscapes*' \\
        --checkpoints ~/zoo --data-root data/cityscapes --work-dir zoo_bench
    # Given configs and checkpoints, one per config
    python tools/analysis_tools/zoo_benchmark.py --configs CFG1 CFG2 \\
        --checkpoints A.pth B.pth --data-root data/cityscapes \\
        --work-dir zoo_bench --tta --train-step --update-metafile
"""
import argparse
import copy
import datetime
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import mmseg_ocr_plus  # noqa: F401  # isort: skip  (compat fixes first)
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from mmengine.visualization import Visualizer

from mmseg_ocr_plus.compat import UnreadableCheckpointError
from mmseg_ocr_plus.utils.preflight import (
    InvalidInputError,
    check_config_path,
    check_dataloaders,
    run_tool,
)
from mmseg_ocr_plus.utils.zoo_benchmark import (
    CheckpointMismatchError,
    CheckpointUnavailableError,
    ZooModel,
    deltas,
    environment,
    find_models,
    inference_speed,
    load_metafile,
    load_weights,
    lookup_model,
    measured_figures,
    mmseg_metafiles,
    render_markdown,
    render_per_class_iou,
    resolve_checkpoint,
    result_entry,
    sha256sum,
    stock_model_cfg,
    train_step_speed,
    update_metafile,
    zoo_hash_prefix,
)

REPO = Path(__file__).resolve().parents[2]
OUR_METAFILE = REPO / 'configs/ocrnet_plus/metafile.yaml'
# Errors that end one model's row, not the run.
ROW_ERRORS = (CheckpointUnavailableError, CheckpointMismatchError,
              InvalidInputError, UnreadableCheckpointError)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument('--configs', nargs='+', help='config files')
    what.add_argument(
        '--models',
        help="a glob over metafile model names, e.g. 'ocrnet_hr18*city*'; "
        "MMSeg's metafiles, ours and --metafile are searched")
    parser.add_argument(
        '--checkpoints',
        nargs='+',
        help='one per config (file or URL), or one directory of files named '
        "as the zoo names them (or <model name>.pth); default: the "
        "metafile's Weights")
    parser.add_argument(
        '--metafile',
        nargs='+',
        default=[],
        help='more metafiles to search (before ours and MMSeg\'s)')
    parser.add_argument(
        '--data-root', required=True, help='root of the test dataset')
    parser.add_argument('--work-dir', required=True, help='output directory')
    parser.add_argument(
        '--tta', action='store_true', help='also evaluate ms+flip')
    parser.add_argument(
        '--train-step',
        action='store_true',
        help="time a training step of the config's model and MMSeg's stock "
        'equivalent on a random batch')
    parser.add_argument(
        '--device', choices=['cpu', 'cuda'], default=None,
        help='default: cuda if available')
    parser.add_argument('--fps-warmup', type=int, default=5)
    parser.add_argument('--fps-repeats', type=int, default=20)
    parser.add_argument(
        '--train-repeats',
        type=int,
        default=3,
        help='timed training steps (after one to measure memory and one '
        'warm-up)')
    parser.add_argument(
        '--update-metafile',
        nargs='?',
        const=str(OUR_METAFILE),
        metavar='METAFILE',
        help='write the measured figures into this metafile\'s Results '
        f'(default: {OUR_METAFILE.relative_to(REPO)})')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in every config, as in tools/test.py')
    return parser.parse_args(argv)


def select_device(name: Optional[str]) -> str:
    """``--device``; CPU hides CUDA so that MMEngine's Runner uses CPU."""
    if name == 'cuda' and not torch.cuda.is_available():
        raise InvalidInputError('--device cuda: expected a CUDA device, '
                                'found none; use --device cpu')
    if name == 'cpu':
        os.environ['CUDA_VISIBLE_DEVICES'] = ''
        return 'cpu'
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def metafiles(args: argparse.Namespace) -> List[Path]:
    """Where models and their published figures are looked up."""
    return [Path(p) for p in args.metafile] + [OUR_METAFILE,
                                               *mmseg_metafiles()]


def select_models(
        args: argparse.Namespace) -> List[Tuple[ZooModel, Optional[str]]]:
    """The models to run, each with its ``--checkpoints`` entry."""
    if args.models:
        try:
            models = find_models(args.models, metafiles(args))
        except ValueError as err:
            raise InvalidInputError(str(err)) from err
        if args.checkpoints and (len(args.checkpoints) != 1
                                 or not os.path.isdir(args.checkpoints[0])):
            raise InvalidInputError(
                '--checkpoints with --models: expected one directory, got '
                f'{args.checkpoints}')
        given = args.checkpoints[0] if args.checkpoints else None
        return [(model, given) for model in models]
    checkpoints = args.checkpoints or [None] * len(args.configs)
    if len(checkpoints) == 1 and os.path.isdir(checkpoints[0]):
        checkpoints = checkpoints * len(args.configs)
    if len(checkpoints) != len(args.configs):
        raise InvalidInputError(
            f'--checkpoints: expected one per config ({len(args.configs)}) '
            f'or one directory, got {len(checkpoints)}')
    selected = []
    for config, checkpoint in zip(args.configs, checkpoints):
        check_config_path(config)
        model = lookup_model(Path(config), metafiles(args)) or ZooModel(
            name=Path(config).stem,
            config=Path(config).resolve(),
            metafile=Path(),
            source='local')
        if model.config.resolve() != Path(config).resolve():
            # Same name in a metafile: its figures, but the given file.
            model = ZooModel(**{**vars(model), 'config': Path(config)})
        selected.append((model, checkpoint))
    return selected


def load_config(model: ZooModel, args: argparse.Namespace) -> Config:
    """The config with ``--cfg-options`` and ``--data-root`` applied."""
    cfg = Config.fromfile(str(model.config))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    for key in ('test_dataloader', 'val_dataloader'):
        if cfg.get(key):
            cfg[key].dataset.data_root = args.data_root
    cfg.model.pretrained = None  # the checkpoint holds every weight
    cfg.launcher = 'none'
    cfg.load_from = None
    return cfg


def check_data(cfg: Config, args: argparse.Namespace) -> int:
    """The number of test images; a missing or empty dataset raises."""
    from mmseg.registry import DATASETS
    check_dataloaders(cfg, ('test_dataloader', ))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    if len(dataset) == 0:
        prefix = cfg.test_dataloader.dataset.get('data_prefix', {})
        raise InvalidInputError(
            f'--data-root {args.data_root!r}: expected test images in '
            f"{prefix.get('img_path', '')!r} (with labels in "
            f"{prefix.get('seg_map_path', '')!r}), found none")
    return len(dataset)


def evaluate(cfg: Config, checkpoint: Path, work_dir: Path, name: str,
             tta: bool) -> Tuple[Runner, dict, object]:
    """Test one checkpoint; returns the runner, its metrics and the
    ``ConfusionIoUMetric`` (confusion matrix, per-class IoU)."""
    cfg = copy.deepcopy(cfg)
    evaluator = cfg.test_evaluator
    if not (isinstance(evaluator, dict)
            and evaluator.get('type') in ('IoUMetric', 'ConfusionIoUMetric')):
        raise InvalidInputError(
            f'{name}: expected test_evaluator of type IoUMetric, found '
            f'{evaluator}')
    cfg.test_evaluator = dict(evaluator, type='ConfusionIoUMetric', plot=True)
    if tta:
        missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
        if missing:
            raise InvalidInputError(
                f'--tta: expected {" and ".join(missing)} in the config of '
                f'{name}, found none')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
        cfg.test_evaluator['plot'] = False
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'{name}{"_tta" if tta else ""}'
    if cfg.get('visualizer'):  # MMSeg's runtime names it 'visualizer'
        cfg.visualizer['name'] = f'{cfg.experiment_name}_{time.time_ns()}'
    runner = Runner.from_cfg(cfg)
    model = runner.model.module if tta else runner.model
    load_weights(model, checkpoint)
    metrics = runner.test()
    return runner, metrics, runner.test_loop.evaluator.metrics[0]


def benchmark(model: ZooModel, given: Optional[str], row: str,
              args: argparse.Namespace, device: str) -> Dict[str, object]:
    """Every figure of one model; raises one of ``ROW_ERRORS``."""
    cfg = load_config(model, args)
    record: Dict[str, object] = dict(
        name=model.name,
        source=model.source,
        config=str(model.config),
        backbone=model.backbone,
        crop_size=model.crop_size,
        lr_schd=model.lr_schd,
        dataset=model.dataset,
        split=cfg.test_dataloader.dataset.get('data_prefix',
                                              {}).get('img_path'),
        published=model.published)
    record['num_images'] = check_data(cfg, args)
    checkpoint, origin = resolve_checkpoint(model.name, given,
                                            model.weights)
    record['checkpoint'] = origin
    record['checkpoint_file'] = str(checkpoint)
    record['sha256'] = sha256sum(checkpoint)
    prefix = zoo_hash_prefix(str(checkpoint))
    record['sha256_matches_name'] = (None if prefix is None else
                                     record['sha256'].startswith(prefix))
    work_dir = Path(args.work_dir) / 'runs' / row
    runner, metrics, metric = evaluate(cfg, checkpoint, work_dir, row, False)
    record.update(
        mIoU=float(metrics['mIoU']),
        aAcc=float(metrics['aAcc']),
        mAcc=float(metrics.get('mAcc', float('nan'))),
        per_class_iou={  # None for a class neither labelled nor predicted
            name: None if math.isnan(iou) else iou
            for name, iou in metric.per_class_iou.items()
        },
        confusion_matrix=metric.confusion_matrix.tolist())
    print(f'{model.name}: inference speed')
    speed = inference_speed(runner.model, runner.test_dataloader, device,
                            args.fps_warmup, args.fps_repeats)
    record.update(
        fps=speed.pop('fps'),
        peak_memory_mb=speed['peak_memory_mb'],
        inference=speed)
    del runner
    if args.tta:
        _, tta_metrics, _ = evaluate(cfg, checkpoint, work_dir, row, True)
        record['mIoU(ms+flip)'] = float(tta_metrics['mIoU'])
        record['aAcc(ms+flip)'] = float(tta_metrics['aAcc'])
    if args.train_step:
        size = cfg.model.get('data_preprocessor', {}).get('size') or (512,
                                                                    1024)
        batch = cfg.train_dataloader.batch_size
        print(f'{model.name}: training step')
        record['train_step'] = train_step_speed(
            cfg.model, batch, size, device, repeats=args.train_repeats)
        try:
            stock = stock_model_cfg(cfg.model)
        except ValueError as err:  # an option of ours MMSeg cannot express
            record['train_step_stock'] = dict(error=str(err))
        else:
            if stock != cfg.model.to_dict():
                print(f'{model.name}: training step of the stock model')
                record['train_step_stock'] = train_step_speed(
                    stock, batch, size, device, repeats=args.train_repeats)
    record['plots'] = sorted(
        str(p) for p in work_dir.glob('*/vis_data/vis_image/*.png'))
    record['delta'] = deltas(model.published, measured_figures(record))
    return record


def draw_comparison(records: List[dict], out_dir: Path) -> Optional[str]:
    """Per-class IoU of every model (and published per-class figures where
    the metafile has them) in one chart, through a visualizer backend."""
    done = [r for r in records if r.get('per_class_iou')]
    if not done:
        return None
    series = {}
    for record in done:
        published = record['published'].get('per_class_iou')
        if published:
            series[f"{record['name']} (published)"] = published
        series[f"{record['source']}: {record['name']}"] = (
            record['per_class_iou'])
    visualizer = Visualizer.get_instance(
        f'zoo_benchmark_{datetime.datetime.now():%Y%m%d_%H%M%S_%f}',
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(out_dir / 'plots'))
    visualizer.add_image('per_class_iou',
                         render_per_class_iou(
                             series, list(done[0]['per_class_iou'])))
    return str(out_dir / 'plots/vis_data/vis_image/per_class_iou_0.png')


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run every selected model and write the report.

    Raises:
        InvalidInputError: For a bad option or dataset (nothing run), or at
            the end when some models could not be run (each named above).
    """
    args = parse_args(argv)
    command = shlex.join(
        [sys.executable, sys.argv[0], *(sys.argv[1:] if argv is None else
                                        argv)])
    device = select_device(args.device)
    if min(args.fps_repeats, args.train_repeats) < 1 or args.fps_warmup < 0:
        raise InvalidInputError(
            '--fps-repeats/--train-repeats/--fps-warmup: expected >= 1 / '
            f'>= 1 / >= 0, got {args.fps_repeats} / {args.train_repeats} / '
            f'{args.fps_warmup}')
    selected = select_models(args)
    if args.update_metafile:
        # Ours only: MMSeg-layout Results are published figures.
        listed = {
            m.name
            for m in load_listed(Path(args.update_metafile))
            if m.source == 'ours'
        }
    # A bad data root is one line before any model runs.
    check_data(load_config(selected[0][0], args), args)
    out_dir = Path(args.work_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment(device)
    records = []
    for i, (model, given) in enumerate(selected):
        row = f'{i:02d}_{model.source}_{model.name}'
        print(f'[{i + 1}/{len(selected)}] {model.source}: {model.name}')
        try:
            records.append(benchmark(model, given, row, args, device))
        except ROW_ERRORS as err:
            print(f'{Path(sys.argv[0]).name}: {model.name}: {err}',
                  file=sys.stderr)
            records.append(
                dict(name=model.name, source=model.source,
                     config=str(model.config), published=model.published,
                     backbone=model.backbone, crop_size=model.crop_size,
                     lr_schd=model.lr_schd, error=str(err)))
    json_path = out_dir / 'zoo_benchmark.json'
    comparison = draw_comparison(records, out_dir)
    json_path.write_text(
        json.dumps(
            dict(command=command, environment=env, models=records,
                 comparison_plot=comparison),
            indent=2,
            default=float))
    (out_dir / 'zoo_benchmark.md').write_text(
        render_markdown(records, env, command))
    print(f'wrote {json_path} and {out_dir / "zoo_benchmark.md"}')
    if args.update_metafile:
        results = {
            r['name']: result_entry(r, env, json_path, command)
            for r in records if not r.get('error') and r['name'] in listed
        }
        names = update_metafile(args.update_metafile, results)
        print(f'updated {args.update_metafile}: '
              f'{", ".join(names) or "no model"}')
    failed = [r['name'] for r in records if r.get('error')]
    if failed:
        raise InvalidInputError(
            f'{len(failed)} of {len(records)} models not benchmarked '
            f'({", ".join(failed)}); see the lines above and {json_path}')


def load_listed(metafile: Path) -> List[ZooModel]:
    """The models of the metafile ``--update-metafile`` writes."""
    try:
        return load_metafile(metafile)
    except (FileNotFoundError, ValueError) as err:
        raise InvalidInputError(f'--update-metafile: {err}') from err


if __name__ == '__main__':
    sys.exit(run_tool(main))
