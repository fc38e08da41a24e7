"""``keep_freed_memory``: glibc's malloc keeps a freed 64 MiB block in the
heap (measured with ``mallinfo2`` in a child process, since the setting is
process-wide), and ``prepare_for_inference`` asks for it only when told."""
import copy
import subprocess
import sys
import textwrap
from unittest.mock import Mock

import pytest
from calibrated_models import build_calibrated, smooth_inputs

from mmseg_ocr_plus import prepare_for_inference
from mmseg_ocr_plus.deploy import freed_memory, inference, keep_freed_memory
from mmseg_ocr_plus.engine.hooks import FastInferenceHook

DEMO = 'demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'

# Prints, in MiB: the mmapped bytes added while a 64 MiB tensor lives,
# before and after ``keep_freed_memory`` (the tensor freed each time), then
# the free bytes left in the heap.
CHILD = textwrap.dedent('''
    import ctypes
    import torch
    from mmseg_ocr_plus.deploy import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
            'fsmblks', 'uordblks', 'fordblks', 'keepcost')]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    MiB = 2**20
    base = libc.mallinfo2().hblkhd / MiB  # what else is mmapped
    block = torch.empty(64 * MiB, dtype=torch.uint8)
    before = libc.mallinfo2().hblkhd / MiB - base
    del block
    assert keep_freed_memory()
    block = torch.empty(64 * MiB, dtype=torch.uint8)
    after = libc.mallinfo2().hblkhd / MiB - base
    del block
    print(before, after, libc.mallinfo2().fordblks / MiB)
''')


def has_mallinfo2() -> bool:
    version = freed_memory.glibc_version()
    return bool(version) and tuple(map(int, version.split('.')[:2])) >= (2,
                                                                        33)


@pytest.mark.skipif(not has_mallinfo2(), reason='needs glibc >= 2.33')
def test_a_freed_large_block_stays_in_the_heap():
    proc = subprocess.run([sys.executable, '-c', CHILD],
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    before, after, heap_free = map(float, proc.stdout.split()[-3:])
    assert before >= 64  # the block had its own mmap
    assert after < 64  # now it came from the heap
    assert heap_free >= 64  # and stays there, free, once deleted


@pytest.mark.parametrize('confstr', [None, ValueError, OSError, 'musl'])
def test_glibc_version_is_empty_elsewhere(monkeypatch, confstr):
    if confstr is None:  # Windows: no os.confstr
        monkeypatch.delattr(freed_memory.os, 'confstr', raising=False)
    elif isinstance(confstr, str):
        monkeypatch.setattr(freed_memory.os, 'confstr', lambda name: None)
    else:
        monkeypatch.setattr(freed_memory.os, 'confstr',
                            Mock(side_effect=confstr('unknown name')))
    assert freed_memory.glibc_version() == ''


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(freed_memory, 'glibc_version', lambda: '')
    monkeypatch.setattr(freed_memory.ctypes, 'CDLL', Mock(
        side_effect=AssertionError('libc touched')))
    assert keep_freed_memory() is False


def test_prepare_for_inference_keeps_memory_only_when_told(monkeypatch):
    calls = Mock()
    monkeypatch.setattr(inference, 'keep_memory', calls)
    model = build_calibrated(DEMO, smooth_inputs(2, 64, 128))
    prepare_for_inference(copy.deepcopy(model))
    assert calls.call_count == 0
    prepare_for_inference(copy.deepcopy(model), keep_freed_memory=True)
    assert calls.call_count == 1
    FastInferenceHook('fp32', keep_freed_memory=True).before_test(
        Mock(model=model))
    assert calls.call_count == 2
