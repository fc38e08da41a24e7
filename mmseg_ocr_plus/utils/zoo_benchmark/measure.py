"""Speed and memory of a segmentor on the current device.

- Inference: batch 1, images through the config's test pipeline and the
  model's data preprocessor (not timed), ``predict`` timed after warm-up;
  fps is 1 / the median time, as a steadier figure than MMSeg's
  ``benchmark.py`` mean over 200 images.
- Training step: forward, backward and an SGD step on a random batch of the
  config's training batch size and crop size, for the config's model and
  MMSeg's stock equivalent (:func:`stock_model_cfg`).
- Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (what MMSeg's
  "Mem (GB)" reports); on CPU the rise of the resident set's high-water mark
  (``VmHWM``, reset through ``/proc/self/clear_refs``) over the measured
  work, after freed memory is handed back (``malloc_trim``). Where the mark
  cannot be reset the figure is the process's peak (``ru_maxrss``).
"""
import copy
import ctypes
import functools
import gc
import itertools
import resource
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import torch
from mmengine.utils import ProgressBar

__all__ = [
    'PeakMemory', 'inference_speed', 'random_batch', 'stock_model_cfg',
    'train_step_speed'
]

STOCK_TYPES = {
    'OCRCascadeEncoderDecoder': 'CascadeEncoderDecoder',
    'SoftRegionHead': 'FCNHead',
    'OCRPlusHead': 'OCRHead',
}
# Options of ours that MMSeg's modules cannot express, with their defaults.
OURS_ONLY = dict(
    conv_bias=False, bottleneck_bias=False, gather_scale=1.0, query_pool=1)


def stock_model_cfg(model_cfg: dict) -> dict:
    """The same model with MMSeg's own segmentor and heads.

    Raises:
        ValueError: If a head sets an option of ours MMSeg cannot express.
    """
    cfg = copy.deepcopy(model_cfg)
    cfg['type'] = STOCK_TYPES.get(cfg['type'], cfg['type'])
    # how ours computes, not what: MMSeg's segmentor has no such options
    cfg.pop('channels_last', None)
    cfg.pop('with_cp_modules', None)
    heads = cfg.get('decode_head')
    for head in heads if isinstance(heads, list) else [heads]:
        for key, default in OURS_ONLY.items():
            if head.get(key, default) != default:
                raise ValueError(f'{key}={head[key]!r} in {head["type"]} has '
                                 "no equivalent in MMSeg's heads")
            head.pop(key, None)
        head.pop('lowres_bottleneck', None)  # the same function
        head.pop('lowres_conv', None)
        head['type'] = STOCK_TYPES.get(head['type'], head['type'])
    return cfg


def _proc_status_mib(field: str) -> Optional[float]:
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak memory of the work inside ``with``, in MiB (``.mib``).

    Args:
        device (str): ``'cuda'`` or ``'cpu'``.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.mib: Optional[float] = None
        self.method = ''

    def __enter__(self) -> 'PeakMemory':
        gc.collect()
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.method = 'torch.cuda.max_memory_allocated'
            return self
        try:
            ctypes.CDLL('libc.so.6').malloc_trim(0)
        except (OSError, AttributeError):
            pass
        try:
            Path('/proc/self/clear_refs').write_text('5')  # reset VmHWM
            self._baseline = _proc_status_mib('VmRSS')
            self.method = 'CPU RSS high-water mark (VmHWM) above baseline'
        except OSError:
            self._baseline = None
            self.method = 'CPU process peak RSS (ru_maxrss)'
        return self

    def __exit__(self, *exc) -> None:
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            self.mib = torch.cuda.max_memory_allocated() / 2**20
        elif self._baseline is not None:
            self.mib = _proc_status_mib('VmHWM') - self._baseline
        else:  # Linux reports KiB
            peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.mib = peak_kib / 1024


def _timed(fn: Callable[[], None], device: str) -> float:
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def inference_speed(model: torch.nn.Module, batches: Iterable[dict],
                    device: str, warmup: int = 5,
                    repeats: int = 20) -> Dict[str, object]:
    """Batch-1 inference speed of ``model`` on real images.

    Args:
        model (nn.Module): A segmentor with a data preprocessor, on
            ``device``.
        batches (Iterable[dict]): Batches of one image (the test data
            loader); cycled if shorter than ``warmup + repeats``.
        device (str): ``'cpu'`` or ``'cuda'``.
        warmup (int): Untimed runs first. Defaults to 5 (MMSeg's).
        repeats (int): Timed runs. Defaults to 20.

    Returns:
        dict: ``fps`` (1 / median), ``median_s``, ``times_s``,
        ``input_shape`` ([H, W] of the first timed input), ``warmup``,
        ``repeats``, ``peak_memory_mb`` and ``memory_method``.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f'Expected repeats >= 1 and warmup >= 0, got '
                         f'{repeats} and {warmup}')
    model.eval()
    times: List[float] = []
    shape: Sequence[int] = ()
    bar = ProgressBar(warmup + repeats)
    with PeakMemory(device) as memory, torch.no_grad():
        for i, batch in enumerate(
                itertools.islice(itertools.cycle(batches), warmup + repeats)):
            if len(batch['inputs']) != 1:
                raise ValueError('Expected batches of one image, got '
                                 f'{len(batch["inputs"])}')
            data = model.data_preprocessor(batch, False)
            elapsed = _timed(
                functools.partial(model, data['inputs'],
                                  data['data_samples'], mode='predict'),
                device)
            if i >= warmup:
                times.append(elapsed)
                shape = shape or list(data['inputs'].shape[-2:])
            bar.update()
    print()
    median = statistics.median(times)
    return dict(
        fps=round(1 / median, 2),
        median_s=median,
        times_s=times,
        input_shape=list(shape),
        warmup=warmup,
        repeats=repeats,
        peak_memory_mb=round(memory.mib, 1),
        memory_method=memory.method)


def random_batch(n: int, size: Sequence[int], num_classes: int,
                 device: str) -> tuple:
    """``n`` random images ``[n, 3, H, W]`` and data samples with random
    labels, as a training step after the data preprocessor gets them."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(n, 3, *size, generator=g).to(device)
    samples = []
    for _ in range(n):
        sample = SegDataSample(
            metainfo=dict(img_shape=tuple(size), ori_shape=tuple(size),
                          pad_shape=tuple(size)))
        label = torch.randint(0, num_classes, (1, *size), generator=g)
        sample.gt_sem_seg = PixelData(data=label.to(device))
        samples.append(sample)
    return inputs, samples


def train_step_speed(model_cfg: dict, batch_size: int, size: Sequence[int],
                     device: str, warmup: int = 1,
                     repeats: int = 3) -> Dict[str, object]:
    """Time and memory of a training step of a model built from a config.

    The model is built without pretrained weights, SyncBN reverted to BN.
    Memory is measured over the first step (which allocates everything),
    time over ``repeats`` steps after ``warmup`` more.

    Args:
        model_cfg (dict): ``cfg.model``.
        batch_size (int): Images per step (the config's per-GPU batch).
        size (Sequence[int]): ``(H, W)``, the crop size.
        device (str): ``'cpu'`` or ``'cuda'``.
        warmup (int): Untimed steps after the first. Defaults to 1.
        repeats (int): Timed steps. Defaults to 3.

    Returns:
        dict: ``type``, ``time_s`` (median), ``times_s``, ``batch_size``,
        ``size``, ``peak_memory_mb``, ``memory_method``.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmseg.registry import MODELS
    cfg = copy.deepcopy(model_cfg)
    cfg['pretrained'] = None
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg)).to(device)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    inputs, samples = random_batch(batch_size, size, model.num_classes,
                                   device)

    def step() -> None:
        losses = model.loss(inputs, samples)
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with PeakMemory(device) as memory:
        step()
    bar = ProgressBar(warmup + repeats)
    times = []
    for i in range(warmup + repeats):
        elapsed = _timed(step, device)
        if i >= warmup:
            times.append(elapsed)
        bar.update()
    print()
    return dict(
        type=model_cfg['type'],
        time_s=statistics.median(times),
        times_s=times,
        batch_size=batch_size,
        size=list(size),
        peak_memory_mb=round(memory.mib, 1),
        memory_method=memory.method)
