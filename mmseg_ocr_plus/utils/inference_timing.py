"""Timing in child processes: what ``benchmark_inference.py``'s children
measure and how the parent reads them.

:func:`time_calls` times one inference (waiting for the GPU on CUDA) and
takes its peak memory, :func:`matmul_rate` the machine's matmul throughput
for the floor, and :func:`run_child` runs a child process and reads the one
JSON line it prints.
"""
import json
import statistics
import subprocess
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .zoo_benchmark.measure import PeakMemory

__all__ = ['ChildFailedError', 'matmul_rate', 'run_child', 'time_calls']


class ChildFailedError(RuntimeError):
    """A child process exited with an error or printed no JSON line; the
    message is the last line of its stderr."""


def time_calls(fn: Callable[[], object],
               warmup: int,
               repeats: int,
               device: str = 'cpu') -> Tuple[List[float], float]:
    """Time ``fn`` ``repeats`` times after ``warmup`` untimed calls.

    Args:
        fn (Callable): One inference.
        warmup (int): Untimed calls first (>= 0).
        repeats (int): Timed calls (>= 1).
        device (str): ``'cpu'``, or ``'cuda'`` to wait for the GPU after
            each call and take the peak of ``torch.cuda.max_memory_allocated``.
            Defaults to ``'cpu'``.

    Returns:
        tuple[list[float], float]: The times in seconds, and the peak
        memory in MiB of all the calls (warm-up included): on the CPU above
        the memory before the first, on CUDA all that PyTorch allocated, the
        weights included (see
        :class:`~mmseg_ocr_plus.utils.zoo_benchmark.PeakMemory`).

    Raises:
        ValueError: If ``warmup`` < 0 or ``repeats`` < 1.
    """
    if warmup < 0 or repeats < 1:
        raise ValueError('Expected warmup >= 0 and repeats >= 1, got '
                         f'{warmup} and {repeats}')
    cuda = device.startswith('cuda')
    times = []
    with PeakMemory(device) as memory:
        for i in range(warmup + repeats):
            start = time.perf_counter()
            fn()
            if cuda:
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times, memory.mib


def matmul_rate(dtype: torch.dtype,
                n: int = 2048,
                warmup: int = 1,
                repeats: int = 5,
                device: str = 'cpu') -> float:
    """Median GFLOP/s of an ``n x n`` by ``n x n`` matmul, on the CPU at the
    current ``torch.get_num_threads()``, or on a GPU (fp32 with TF32 as
    ``torch.backends.cuda.matmul.allow_tf32`` says).

    Args:
        dtype (torch.dtype): ``torch.float32``, ``torch.bfloat16`` or
            ``torch.float16``.
        n (int): Matrix size. Defaults to 2048.
        warmup (int): Untimed products first. Defaults to 1.
        repeats (int): Timed products. Defaults to 5.
        device (str): ``'cpu'`` or ``'cuda'``. Defaults to ``'cpu'``.

    Returns:
        float: ``2 * n**3 / median time / 1e9``.
    """
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    times, _ = time_calls(lambda: torch.mm(a, b), warmup, repeats, device)
    return 2 * n**3 / statistics.median(times) / 1e9


def run_child(command: Sequence[str],
              env: Optional[Dict[str, str]] = None,
              timeout: Optional[float] = None) -> dict:
    """Run a child process and parse the JSON object on its last stdout
    line.

    Args:
        command (Sequence[str]): The command line.
        env (dict[str, str], optional): Its environment. Defaults to None
            (this process's).
        timeout (float, optional): Seconds before it is killed. Defaults to
            None (no limit).

    Returns:
        dict: The parsed line.

    Raises:
        ChildFailedError: If it exits with an error, runs past ``timeout``
            or prints no JSON object last; the message is the last line of
            its stderr.
    """
    try:
        proc = subprocess.run(
            list(command),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise ChildFailedError(f'ran past {timeout} s') from err
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        try:
            result = json.loads(lines[-1])
        except json.JSONDecodeError:
            result = None
        if isinstance(result, dict):
            return result
    stderr = [line for line in proc.stderr.splitlines() if line.strip()]
    last = stderr[-1].strip() if stderr else 'no output on stderr'
    raise ChildFailedError(f'{last} (exit status {proc.returncode})')
