"""Train several recipes from the same initial weights and compare how fast
each converges: mIoU against iterations and against training wall time.

Every recipe is a config (plus options) trained in this process, one after
the other, with the same seed, the same data and the same initial weights
(the first recipe's model, initialised once and saved to
``WORK_DIR/init_weights.pth``; every recipe's model must have exactly its
keys and shapes, so that stock MMSeg OCRNet and ours start equal). The
schedule is scaled to ``--iters`` (every scheduler's ``begin`` and ``end``
by ``iters / max_iters``) and the model is evaluated every
``--eval-interval`` iterations. Training wall time counts everything of a
training run except validation (data loading, hooks such as
``ClassStatisticsHook``'s counting, the final checkpoint).

Writes ``WORK_DIR/convergence.json`` (every evaluation, the environment and
the command), ``convergence.md`` (a table) and ``convergence.png`` (the two
curves).

A recipe is ``--recipe NAME CONFIG [KEY=VALUE ...] [amp]``: ``KEY=VALUE``
pairs are ``--cfg-options``, ``amp`` is ``tools/train.py --amp``. Example::

    python tools/analysis_tools/convergence.py --work-dir work_dirs/conv \\
        --iters 200 --eval-interval 50 \\
        --recipe stock configs/demo/ocrnet-stock_hr18s_1xb8-200it_demo-cityscapes-128x128.py \\
        --recipe ours configs/demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py \\
        --recipe ours-amp configs/demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py amp
"""  # noqa: E501
import argparse
import json
import os.path as osp
import platform
import sys
import time
from typing import Dict, List, Optional, Sequence

import mmseg_ocr_plus  # noqa: F401  # isort: skip  (compat fixes first)
import mmengine
import mmseg
import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner, set_random_seed
from mmseg.registry import MODELS

from mmseg_ocr_plus.engine.optimizers import enable_amp
from mmseg_ocr_plus.utils.preflight import (
    InvalidInputError,
    check_config_path,
    check_dataloaders,
    run_tool,
)


class ConvergenceRecorder(Hook):
    """Record ``(iteration, training seconds, metrics)`` at every validation.

    Training time runs from ``before_train`` to the end of training, paused
    while validating.
    """

    priority = 'VERY_HIGH'  # start the clock before other hooks' work

    def __init__(self) -> None:
        self.records: List[Dict] = []
        self.train_time = 0.0
        self._start: Optional[float] = None

    def _pause(self) -> None:
        if self._start is not None:
            self.train_time += time.perf_counter() - self._start
            self._start = None

    def before_train(self, runner) -> None:
        self._start = time.perf_counter()

    def before_val_epoch(self, runner) -> None:
        self._pause()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.records.append(
            dict(iter=runner.iter, train_time=self.train_time,
                 **{k: float(v) for k, v in (metrics or {}).items()}))
        self._start = time.perf_counter()

    def after_train(self, runner) -> None:
        self._pause()


def parse_recipe(tokens: Sequence[str]) -> Dict:
    """``[NAME, CONFIG, KEY=VALUE..., 'amp'?]`` as a dict."""
    if len(tokens) < 2:
        raise InvalidInputError(
            f'--recipe: expected NAME CONFIG [KEY=VALUE ...] [amp], got '
            f'{" ".join(tokens)!r}')
    name, config, *rest = tokens
    options = [t for t in rest if t != 'amp']
    bad = [t for t in options if '=' not in t]
    if bad:
        raise InvalidInputError(
            f'--recipe {name}: expected KEY=VALUE or amp, got {bad[0]!r}')
    parsed = argparse.Namespace()
    DictAction(option_strings=[], dest='options')(None, parsed, options)
    return dict(
        name=name, config=config, options=parsed.options or {},
        amp='amp' in rest)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--recipe',
        nargs='+',
        action='append',
        required=True,
        metavar='NAME CONFIG [KEY=VALUE ...] [amp]',
        help='a recipe to train; repeat for each')
    parser.add_argument('--work-dir', required=True, help='output folder')
    parser.add_argument(
        '--iters', type=int, help='iterations (default: the config\'s)')
    parser.add_argument(
        '--eval-interval', type=int, required=True,
        help='evaluate every this many iterations')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    args.recipe = [parse_recipe(tokens) for tokens in args.recipe]
    names = [r['name'] for r in args.recipe]
    if len(set(names)) != len(names):
        parser.error(f'--recipe: names must differ, got {names}')
    return args


def recipe_config(recipe: Dict, args: argparse.Namespace,
                  init_weights: str) -> Config:
    """The recipe's config, cut to the benchmark's schedule."""
    check_config_path(recipe['config'])
    cfg = Config.fromfile(recipe['config'])
    cfg.merge_from_dict(recipe['options'])
    if recipe['amp']:
        enable_amp(cfg)
    old_iters = cfg.train_cfg.max_iters
    iters = args.iters or old_iters
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = args.eval_interval
    for scheduler in cfg.get('param_scheduler') or []:
        # the schedule scaled to ``iters``, no scheduler shorter than 1
        begin = round(scheduler.get('begin', 0) * iters / old_iters)
        scheduler['begin'] = begin
        if 'end' in scheduler:
            end = round(scheduler['end'] * iters / old_iters)
            scheduler['end'] = max(end, begin + 1)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', by_epoch=False, interval=iters)
    cfg.work_dir = osp.join(args.work_dir, recipe['name'])
    cfg.randomness = dict(seed=args.seed)
    cfg.load_from = init_weights
    cfg.resume = False
    check_dataloaders(cfg, ['train_dataloader', 'val_dataloader'])
    return cfg


def initial_model(cfg: Config, seed: int) -> torch.nn.Module:
    """``cfg.model`` built and initialised with ``seed``."""
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def check_same_layout(cfg: Config, name: str, shapes: Dict) -> None:
    """Fail unless the recipe's model has exactly the initial weights' keys
    and shapes."""
    model = MODELS.build(cfg.model)
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    differ = sorted(set(own) ^ set(shapes)) or sorted(
        k for k in own if own[k] != shapes[k])
    if differ:
        raise InvalidInputError(
            f'--recipe {name}: its model cannot start from the first '
            f'recipe\'s weights ({len(differ)} keys differ, e.g. '
            f'{differ[0]!r})')


def markdown(results: List[Dict]) -> str:
    """A table: final and best mIoU, wall time, and the mIoU each recipe
    had reached when the first recipe finished training."""
    budget = results[0]['records'][-1]['train_time']
    lines = [
        f'| recipe | iters | train time (s) | s/iter | final mIoU | best mIoU '
        f'| mIoU at {budget:.0f} s |', '|---|---|---|---|---|---|---|'
    ]
    for result in results:
        records = result['records']
        last = records[-1]
        within = [r['mIoU'] for r in records if r['train_time'] <= budget]
        at_budget = f'{within[-1]:.2f}' if within else '-'
        lines.append(
            f'| {result["name"]} | {last["iter"]} | '
            f'{last["train_time"]:.0f} | '
            f'{last["train_time"] / last["iter"]:.2f} | '
            f'{last["mIoU"]:.2f} | '
            f'{max(r["mIoU"] for r in records):.2f} | {at_budget} |')
    return '\n'.join(lines) + '\n'


def plot(results: List[Dict], path: str) -> None:
    """mIoU against iteration and against training time, one line a
    recipe."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for result in results:
        records = result['records']
        miou = [r['mIoU'] for r in records]
        axes[0].plot([r['iter'] for r in records], miou, marker='o',
                     label=result['name'])
        axes[1].plot([r['train_time'] for r in records], miou, marker='o',
                     label=result['name'])
    axes[0].set_xlabel('iteration')
    axes[1].set_xlabel('training wall time (s)')
    axes[0].set_ylabel('val mIoU (%)')
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    init_weights = osp.join(args.work_dir, 'init_weights.pth')
    cfgs = [recipe_config(r, args, init_weights) for r in args.recipe]
    state = initial_model(cfgs[0], args.seed).state_dict()
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    for recipe, cfg in zip(args.recipe[1:], cfgs[1:]):
        check_same_layout(cfg, recipe['name'], shapes)
    mmengine.mkdir_or_exist(args.work_dir)
    torch.save(dict(state_dict=state, meta=dict(seed=args.seed)), init_weights)

    results = []
    for recipe, cfg in zip(args.recipe, cfgs):
        runner = Runner.from_cfg(cfg)
        recorder = ConvergenceRecorder()
        runner.register_hook(recorder)
        runner.train()
        results.append(dict(recipe, records=recorder.records))
        print(f'{recipe["name"]}: ' + ', '.join(
            f'{r["iter"]} it {r["mIoU"]:.2f}' for r in recorder.records))

    env = dict(
        torch=torch.__version__, mmseg=mmseg.__version__,
        mmengine=mmengine.__version__, threads=torch.get_num_threads(),
        cpu=platform.processor() or platform.machine(),
        cuda=torch.cuda.is_available())
    with open(osp.join(args.work_dir, 'convergence.json'), 'w') as f:
        json.dump(
            dict(command=' '.join(sys.argv), environment=env,
                 seed=args.seed, results=results), f, indent=1)
    table = markdown(results)
    with open(osp.join(args.work_dir, 'convergence.md'), 'w') as f:
        f.write(table)
    plot(results, osp.join(args.work_dir, 'convergence.png'))
    print(table)


if __name__ == '__main__':
    sys.exit(run_tool(main))
