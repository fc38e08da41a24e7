"""Inference speed of OCRNet's backends against MMSeg's stock model and the
machine's compute floor, on the CPU or a GPU.

Every backend times the same function, ``model._forward(inputs)`` (the
logits of one preprocessed ``1x3xHxW`` image), median of ``--repeats`` after
``--warmup``, in a child process of its own (this script run again with a
hidden ``--child BACKEND``; it prints one JSON line):

- ``stock-fp32`` / ``stock-bf16``: MMSeg's own segmentor and heads with the
  same weights, eval; bf16 under ``torch.autocast``.
- ``stock-fp32-cl`` / ``stock-bf16-cl``: the same with channels-last
  weights and input, to show what the memory format alone gives.
- ``stock-fp32-keepmem`` / ``stock-bf16-keepmem``: the stock model with
  glibc's ``malloc`` keeping freed memory in the process
  (:func:`~mmseg_ocr_plus.deploy.keep_freed_memory`), to show what that
  alone gives.
- ``ours-fp32``: this plugin's model, eval, the default path.
- ``fast-fp32`` / ``fast-bf16``: after ``prepare_for_inference(...,
  keep_freed_memory=True)``, as ``tools/test.py --fast`` runs it.
- ``fast-bf16-compile``: the same with ``compile=True`` (``torch.compile``
  with Inductor's freezing; the compile happens in the setup).
- ``ort-fp32``: the ``fast-fp32`` model (NCHW: ONNX has no memory
  format) exported to ONNX, in ONNX Runtime
  (all graph optimisations, ``--threads`` intra-op threads).
- ``openvino-fp32`` / ``openvino-bf16``: the same ONNX file in OpenVINO
  on the CPU (``INFERENCE_PRECISION_HINT`` f32 / bf16, ``--threads``
  inference threads); the ``openvino`` extra.

With ``--device cuda`` (all on one GPU; cuDNN's algorithm search on for
every backend alike):

- ``stock-fp32`` / ``stock-fp16``: as above, fp16 under CUDA autocast;
  fp32 convs use TF32, PyTorch's default for cuDNN.
- ``ours-fp32``, ``fast-fp32``, ``fast-fp16``: as above (freed memory
  is the CUDA caching allocator's business there: no ``keep_freed_memory``).
- ``fast-fp16-cl``: the fast path with channels-last weights and input.
- ``fast-fp16-graph``: the fast path captured in a CUDA graph
  (:class:`~mmseg_ocr_plus.deploy.CUDAGraphForward`), each call a copy of
  the input and a replay.
- ``fast-fp16-compile``: as ``fast-bf16-compile`` (needs Triton).

Every child also reports ``setup_s``: building, preparing and (where the
backend does) exporting, capturing or compiling the model, and the first
call of a compiled one.

Backends whose modules are not installed are reported as skipped. Weights
are a seeded random initialisation (``torch.manual_seed(0)``), or
``--checkpoint``. Two more children measure the matmul rate (fp32 and bf16
at 2048^3 on the CPU; fp32 with TF32, as cuDNN's fp32 convs run by default,
and fp16 at 8192^3 on CUDA) and
count the stock model's MACs at ``--size``; the floor is
``2 * MACs / rate`` (see :mod:`mmseg_ocr_plus.utils.inference_benchmark`).
The table gives each backend's median, its ratio to the stock model in its
dtype and to the floor in its dtype, and its peak memory (the rise of VmHWM
over the work on the CPU; on CUDA ``torch.cuda.max_memory_allocated`` over
the child's life, so that the setup's warm-up, capture or compile counts
for every backend alike);
then the issue's targets with PASS or FAIL.

Exit status: 0 when every child ran, whether the targets pass or not (they
are printed to be read, not to gate); 1 if a child failed (its row says
``failed: <last line of its stderr>`` and the run goes on); 2 for a bad
option.

Examples::

    python tools/analysis_tools/benchmark_inference.py --threads 2 \\
        --repeats 3 --json work_dirs/benchmark_inference.json
    python tools/analysis_tools/benchmark_inference.py --device cuda \\
        --repeats 50 --warmup 5
"""
import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import mmseg_ocr_plus  # noqa: F401  # isort: skip  (compat fixes first)
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from torch import nn

from mmseg_ocr_plus import prepare_for_inference
from mmseg_ocr_plus.deploy import (
    CUDAGraphForward,
    compile_openvino,
    export_onnx,
    keep_freed_memory,
)
from mmseg_ocr_plus.utils.complexity import model_complexity
from mmseg_ocr_plus.utils.inference_benchmark import (
    BACKENDS,
    DEVICE_BACKENDS,
    DEVICE_DTYPES,
    TARGETS,
    TORCH_DTYPES,
    check_targets,
    floor_seconds,
    format_table,
    summary_rows,
    unavailable_reason,
)
from mmseg_ocr_plus.utils.inference_timing import (
    ChildFailedError,
    matmul_rate,
    run_child,
    time_calls,
)
from mmseg_ocr_plus.utils.preflight import (
    InvalidInputError,
    check_checkpoint_path,
    check_config_path,
    run_tool,
)
from mmseg_ocr_plus.utils.state_dict_check import load_weights
from mmseg_ocr_plus.utils.zoo_benchmark import stock_model_cfg

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = str(
    REPO / 'configs/ocrnet_plus/ocrnet_hr18_4xb2-40k_cityscapes-512x1024.py')
MEASUREMENTS = ('matmul', 'macs')  # the children besides the backends
MATMUL_SIZE = {'cpu': 2048, 'cuda': 8192}  # n of the n x n x n products


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help=f'default: {os.path.relpath(DEFAULT_CONFIG, REPO)}')
    parser.add_argument(
        '--checkpoint', help='weights (default: seeded random init)')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=[512, 1024],
        metavar=('H', 'W'),
        help='input height and width (default: 512 1024)')
    parser.add_argument(
        '--device',
        choices=list(DEVICE_BACKENDS),
        default='cpu',
        help='where every backend runs (default: cpu)')
    parser.add_argument(
        '--threads',
        type=int,
        default=os.cpu_count(),
        help='threads of every backend and the matmul (default: all cores, '
        f'{os.cpu_count()})')
    parser.add_argument(
        '--repeats', type=int, default=5, help='timed runs (default: 5)')
    parser.add_argument(
        '--warmup', type=int, default=1, help='untimed runs (default: 1)')
    parser.add_argument(
        '--backends',
        nargs='+',
        choices=list(BACKENDS),
        metavar='BACKEND',
        help='backends to run (default: all of the device\'s): on the CPU '
        f'{", ".join(DEVICE_BACKENDS["cpu"])}; on CUDA '
        f'{", ".join(DEVICE_BACKENDS["cuda"])}')
    parser.add_argument('--json', help='also write everything to this file')
    parser.add_argument(
        '--child',
        choices=list(BACKENDS) + list(MEASUREMENTS),
        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.size) < 32:
        raise InvalidInputError(
            f'--size: expected H and W >= 32, got {args.size[0]} '
            f'{args.size[1]}')
    for option, value, least in (('--threads', args.threads, 1),
                                 ('--repeats', args.repeats, 1),
                                 ('--warmup', args.warmup, 0)):
        if value < least:
            raise InvalidInputError(
                f'{option}: expected an integer >= {least}, got {value}')
    if args.backends is None:
        args.backends = list(DEVICE_BACKENDS[args.device])
    elsewhere = [b for b in args.backends
                 if b not in DEVICE_BACKENDS[args.device]]
    if elsewhere:
        raise InvalidInputError(
            f'--backends: {", ".join(elsewhere)} cannot run with --device '
            f'{args.device}; expected some of '
            f'{", ".join(DEVICE_BACKENDS[args.device])}')
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise InvalidInputError('--device cuda: this PyTorch sees no CUDA '
                                'device (torch.cuda.is_available() is False)')
    check_config_path(args.config)
    if args.checkpoint:
        check_checkpoint_path(args.checkpoint)
    return args


# The children.


def build_model(args: argparse.Namespace, stock: bool) -> nn.Module:
    """Our model with seeded random weights (or ``--checkpoint``), or
    MMSeg's stock model with the same weights; eval mode."""
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    cfg.model.pretrained = None
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    if args.checkpoint:
        load_weights(model, args.checkpoint)
    if stock:
        ours = model
        model = revert_sync_batchnorm(MODELS.build(stock_model_cfg(
            cfg.model)))
        model.load_state_dict(ours.state_dict(), strict=True)
    return model.to(args.device).eval()


def onnx_fn(backend: str, model: nn.Module, inputs: torch.Tensor,
            threads: int) -> Callable[[], object]:
    """Export ``model`` to a temporary ONNX file and load it in ONNX
    Runtime or OpenVINO; return one inference."""
    array = inputs.numpy()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'model.onnx')
        export_onnx(model, path, tuple(inputs.shape[2:]))
        if backend == 'ort-fp32':
            import onnxruntime as ort
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.graph_optimization_level = (
                ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
            session = ort.InferenceSession(
                path, options, providers=['CPUExecutionProvider'])
            return lambda: session.run(None, {'inputs': array})
        precision = {'fp32': 'f32', 'bf16': 'bf16'}[BACKENDS[backend]]
        compiled = compile_openvino(path, precision, threads)
        return lambda: compiled([array])


def inference_fn(backend: str,
                 args: argparse.Namespace) -> Callable[[], object]:
    """One ``_forward`` of a seeded random image on ``backend``."""
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(1, 3, *args.size, generator=g)  # [1, 3, H, W]
    family = backend.split('-')[0]
    model = build_model(args, stock=family == 'stock')
    if family in ('ort', 'openvino'):
        prepare_for_inference(model, channels_last=False)
        return onnx_fn(backend, model, inputs, args.threads)
    inputs = inputs.to(args.device)
    dtype = TORCH_DTYPES[BACKENDS[backend]]
    if family == 'fast':
        # autocast is built in; CPU models are channels-last by default
        prepare_for_inference(
            model,
            dtype,
            channels_last=True if backend.endswith('-cl') else None,
            compile=backend.endswith('-compile'),
            keep_freed_memory=True)
    elif backend.endswith('-cl'):
        model.to(memory_format=torch.channels_last)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    elif backend.endswith('-keepmem'):
        keep_freed_memory()
    if backend.endswith('-graph'):
        forward = CUDAGraphForward(model, inputs)
        return lambda: forward(inputs)
    autocast = family == 'stock' and dtype != torch.float32

    def infer() -> torch.Tensor:
        with torch.no_grad(), torch.autocast(
                args.device, dtype=dtype, enabled=autocast):
            return model._forward(inputs)  # [1, K, H/4, W/4] for HRNet

    if backend.endswith('-compile'):
        infer()  # the compile
    return infer


def child(args: argparse.Namespace) -> dict:
    """What the ``--child`` prints: GFLOP/s by dtype, the stock model's
    MACs, or a backend's times and peak memory."""
    if args.child == 'matmul':
        # fp32 on CUDA with TF32, as cuDNN runs the fp32 convs by default
        torch.backends.cuda.matmul.allow_tf32 = True
        n = MATMUL_SIZE[args.device]
        return {
            dtype: matmul_rate(TORCH_DTYPES[dtype], n, device=args.device)
            for dtype in DEVICE_DTYPES[args.device]
        }
    if args.child == 'macs':
        model = build_model(args, stock=True)
        return dict(macs=model_complexity(model, (1, 3, *args.size)).macs)
    torch.backends.cudnn.benchmark = True  # every backend alike
    start = time.perf_counter()
    infer = inference_fn(args.child, args)
    setup_s = time.perf_counter() - start
    times, peak_mib = time_calls(infer, args.warmup, args.repeats,
                                 args.device)
    if args.device == 'cuda':  # the whole child: capture and compile too
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    return dict(
        times_s=times,
        median_s=statistics.median(times),
        peak_mib=peak_mib,
        setup_s=setup_s)


# The parent.


def child_command(args: argparse.Namespace, what: str) -> List[str]:
    """This script with the parent's options and ``--child what``."""
    command = [
        sys.executable,
        os.path.abspath(__file__), '--config', args.config, '--device',
        args.device, '--size',
        *map(str, args.size), '--threads',
        str(args.threads), '--repeats',
        str(args.repeats), '--warmup',
        str(args.warmup), '--child', what
    ]
    return command + (['--checkpoint', args.checkpoint]
                      if args.checkpoint else [])


def run_all(args: argparse.Namespace) -> dict:
    """Run the measurement children, then one child per backend."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    measured: Dict[str, dict] = {}
    failures: List[str] = []
    for what in MEASUREMENTS:
        try:
            measured[what] = run_child(child_command(args, what), env)
        except ChildFailedError as err:
            failures.append(f'{what}: failed: {err}')
    rates = measured.get('matmul', {})
    macs = measured.get('macs', {}).get('macs')
    floors = {} if macs is None else {
        dtype: floor_seconds(macs, rate)
        for dtype, rate in rates.items()
    }
    results: Dict[str, dict] = {}
    for backend in (b for b in DEVICE_BACKENDS[args.device]
                    if b in args.backends):
        reason = unavailable_reason(backend)
        if reason:
            results[backend] = dict(status=f'skipped ({reason})')
            continue
        print(f'running {backend} ...', file=sys.stderr, flush=True)
        try:
            results[backend] = run_child(child_command(args, backend), env)
        except ChildFailedError as err:
            results[backend] = dict(status=f'failed: {err}')
            failures.append(f'{backend}: failed: {err}')
    return dict(
        matmul_gflops=rates,
        stock_macs=macs,
        floors_s=floors,
        backends=results,
        failures=failures)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Print the table and the targets; exit status 1 if a child failed."""
    args = parse_args(argv)
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # quiet init
    if args.child:
        torch.set_num_threads(args.threads)
        print(json.dumps(child(args)), flush=True)
        return
    h, w = args.size
    device = (torch.cuda.get_device_name()
              if args.device == 'cuda' else 'cpu')
    print(f'config {os.path.relpath(args.config)}  input 1x3x{h}x{w}  '
          f'device {device}  threads {args.threads}  repeats {args.repeats} '
          f'(after {args.warmup} warm-up)  torch {torch.__version__}',
          flush=True)
    report = run_all(args)
    results, floors = report['backends'], report['floors_s']
    for dtype, rate in report['matmul_gflops'].items():
        floor = (f', floor {floors[dtype]:.4f} s/img'
                 if dtype in floors else '')
        n = MATMUL_SIZE[args.device]
        print(f'matmul {n}^3 {dtype}: {rate:.1f} GFLOP/s{floor}')
    if report['stock_macs'] is not None:
        print(f'stock model: {report["stock_macs"] / 1e9:.2f} GMACs')
    rows = summary_rows(results, floors)
    print('\n' + format_table(rows) + '\n')
    medians = {b: r['median_s'] for b, r in results.items() if 'median_s' in r}
    reasons = {b: r['status'] for b, r in results.items() if 'status' in r}
    targets = check_targets(medians, floors, reasons, TARGETS[args.device])
    print('targets (printed, not the exit status):')
    for result in targets:
        print('  ' + result.line())
    for failure in report['failures']:
        print(failure, file=sys.stderr)
    if args.json:
        report.update(
            config=args.config,
            checkpoint=args.checkpoint,
            size=args.size,
            device=device,
            threads=args.threads,
            repeats=args.repeats,
            warmup=args.warmup,
            torch=torch.__version__,
            rows=rows,
            targets=[
                dict(target=str(r.target), status=r.status, ratio=r.ratio)
                for r in targets
            ])
        with open(args.json, 'w') as file:
            json.dump(report, file, indent=2)
    if report['failures']:
        sys.exit(1)


if __name__ == '__main__':
    sys.exit(run_tool(main))
