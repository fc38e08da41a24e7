"""Benchmark this plugin's OCRNet against MMSeg's stock OCRNet, side by side.

Both models are built from one config (MMSeg's own types are swapped in for
the stock model) and share the same weights. Timings alternate between the
two models in one process and report medians and the ratio ours / stock.
Peak memory is the rise of the resident set size (VmHWM) over one training
step, measured in a fresh child process per model and repeat.

Example (the README's figures)::

    python tools/analysis_tools/benchmark_ocr.py --threads 2
    # our model channels-last, the stock one as MMSeg builds it
    python tools/analysis_tools/benchmark_ocr.py --threads 2 \
        --ours-options model.channels_last=True
"""
import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import mmseg_ocr_plus  # noqa: F401  (its compat fixes go before MMSeg)

# isort: split
import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

# The same model with MMSeg's own segmentor and heads.
from mmseg_ocr_plus.utils.zoo_benchmark import stock_model_cfg

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = (
    REPO / 'configs/ocrnet_plus/ocrnet_hr18_4xb2-40k_cityscapes-512x1024.py')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=str(DEFAULT_CONFIG))
    parser.add_argument('--batch', type=int, default=2, help='training batch')
    parser.add_argument(
        '--size', type=int, nargs=2, default=[512, 1024], metavar=('H', 'W'))
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--dtype', choices=['fp32', 'bf16'], default='fp32')
    parser.add_argument(
        '--ours-dtype',
        choices=['fp32', 'bf16'],
        help='our model\'s dtype if not --dtype (e.g. ours under --amp '
        'against stock fp32)')
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='both models and the inputs channels-last')
    parser.add_argument(
        '--ours-options',
        nargs='+',
        action=DictAction,
        default={},
        help='config options for our model only, e.g. '
        'model.channels_last=True; the stock model is built from the config '
        'without them')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument(
        '--only',
        choices=['train', 'infer', 'memory'],
        nargs='+',
        default=['train', 'infer', 'memory'])
    parser.add_argument('--memory-child', choices=['ours', 'stock'],
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def build_models(args: argparse.Namespace) -> Dict[str, torch.nn.Module]:
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    cfg.model.pretrained = None
    stock_cfg = stock_model_cfg(cfg.model)  # as the config has it
    cfg.merge_from_dict(args.ours_options)
    torch.manual_seed(0)
    ours = revert_sync_batchnorm(MODELS.build(cfg.model))
    ours.init_weights()
    stock = revert_sync_batchnorm(MODELS.build(stock_cfg))
    stock.load_state_dict(ours.state_dict(), strict=True)
    models = dict(stock=stock, ours=ours)
    if args.channels_last:
        for model in models.values():
            model.to(memory_format=torch.channels_last)
    return models


def make_batch(n: int, size: List[int], num_classes: int,
               channels_last: bool):
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(n, 3, *size, generator=g)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    samples = []
    for _ in range(n):
        sample = SegDataSample(
            metainfo=dict(img_shape=tuple(size), ori_shape=tuple(size)))
        label = torch.randint(0, num_classes, (1, *size), generator=g)
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return inputs, samples


def autocast(args: argparse.Namespace, name: str):
    """bf16 autocast if ``--dtype`` (``--ours-dtype`` for ours) says so."""
    dtype = args.ours_dtype if name == 'ours' and args.ours_dtype else (
        args.dtype)
    return torch.autocast('cpu', dtype=torch.bfloat16, enabled=dtype == 'bf16')


def train_step_fn(model: torch.nn.Module, args: argparse.Namespace,
                  name: str) -> Callable[[], None]:
    """Forward + backward + SGD step on a fixed random batch."""
    model.train()
    optim = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    inputs, samples = make_batch(args.batch, args.size, model.num_classes,
                                 args.channels_last)

    def step() -> None:
        with autocast(args, name):
            losses = model.loss(inputs, samples)
        sum(losses.values()).backward()
        optim.step()
        optim.zero_grad(set_to_none=True)

    return step


def infer_fn(model: torch.nn.Module, args: argparse.Namespace,
             name: str) -> Callable[[], None]:
    """Whole-image inference of one image, logits resized to the input."""
    model.eval()
    inputs, samples = make_batch(1, args.size, model.num_classes,
                                 args.channels_last)
    metas = [s.metainfo for s in samples]

    def infer() -> None:
        with torch.no_grad(), autocast(args, name):
            model.encode_decode(inputs, metas)

    return infer


def time_side_by_side(fns: Dict[str, Callable[[], None]],
                      args: argparse.Namespace) -> Dict[str, List[float]]:
    """Alternate the models so that machine noise hits both alike."""
    for _ in range(args.warmup):
        for fn in fns.values():
            fn()
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(args.repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def rss_mib(field: str) -> float:
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field + ':'):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f'{field} not in /proc/self/status')


def memory_child(args: argparse.Namespace) -> None:
    """One training step of one model; print the RSS peak above baseline."""
    model = build_models(args)[args.memory_child]
    step = train_step_fn(model, args, args.memory_child)
    Path('/proc/self/clear_refs').write_text('5')  # reset VmHWM
    baseline = rss_mib('VmRSS')
    step()
    print(json.dumps(dict(peak_mib=rss_mib('VmHWM') - baseline)))


def measure_memory(args: argparse.Namespace,
                   argv: List[str]) -> Dict[str, List[float]]:
    peaks: Dict[str, List[float]] = dict(stock=[], ours=[])
    for _ in range(max(1, min(args.repeats, 3))):
        for name in peaks:
            out = subprocess.run(
                [sys.executable, __file__, *argv, '--memory-child', name],
                check=True,
                capture_output=True,
                text=True).stdout
            peaks[name].append(json.loads(out.strip().splitlines()[-1])
                               ['peak_mib'])
    return peaks


def report(what: str, unit: str, values: Dict[str, List[float]]) -> None:
    stock = statistics.median(values['stock'])
    ours = statistics.median(values['ours'])
    print(f'{what:<22} stock {stock:9.3f} {unit}   ours {ours:9.3f} {unit}'
          f'   ours/stock {ours / stock:.3f}   (median of '
          f'{len(values["ours"])})')


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # quiet init
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args)
        return
    print(f'config {os.path.relpath(args.config)}  dtype {args.dtype}  '
          f'ours dtype {args.ours_dtype or args.dtype}  ours options '
          f'{args.ours_options}  '
          f'channels_last {args.channels_last}  threads '
          f'{torch.get_num_threads()}  torch {torch.__version__}')
    if 'train' in args.only or 'infer' in args.only:
        models = build_models(args)
    # Inference first, before any training step, as in tools/test.py. After
    # a training step both models page-fault far less on their large buffers
    # (measured, HRNet-W18 fp32: 617k / 445k minor faults per inference for
    # stock / ours before, 66k / 0 after a training step), both run
    # faster, and the ratio moves towards 1 (about 0.89 against 0.86).
    if 'infer' in args.only:
        fns = {n: infer_fn(m, args, n) for n, m in models.items()}
        report('inference (batch 1)', 's', time_side_by_side(fns, args))
    if 'train' in args.only:
        fns = {n: train_step_fn(m, args, n) for n, m in models.items()}
        report(f'train step (batch {args.batch})', 's',
               time_side_by_side(fns, args))
    if 'memory' in args.only:
        report('peak train memory', 'MiB', measure_memory(args, argv))


if __name__ == '__main__':
    main()
