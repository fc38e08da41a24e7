"""The converter's command line on bad inputs: one line on stderr, exit
status 2, nothing written, and no pickled code run."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmseg.registry import MODELS
from official_layouts import CASES, build_reference, official_file

from mmseg_ocr_plus.converters import (
    CheckpointFileError,
    UnknownLayoutError,
    convert_state_dict,
    read_state_dict,
)
from mmseg_ocr_plus.utils.preflight import run_tool

ROOT = Path(__file__).parents[2]
TOOL = ROOT / 'tools/model_converters/ocrnet_official2mmseg.py'


def load_tool():
    spec = importlib.util.spec_from_file_location('ocrnet_official2mmseg',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_in_process(capsys, *argv: str):
    """Exit status and stderr lines of the tool's ``main`` via
    ``run_tool``, as ``python TOOL argv`` gives them."""
    tool = load_tool()
    capsys.readouterr()  # drop the warnings of building the inputs
    status = run_tool(lambda: tool.main(list(argv)))
    return status, capsys.readouterr().err.strip().splitlines()


def deeplabv3_state_dict() -> dict:
    """A small MMSeg DeepLabV3 (ResNet-18 + ASPP) state dict."""
    model = MODELS.build(
        dict(
            type='EncoderDecoder',
            backbone=dict(type='ResNetV1c', depth=18, dilations=(1, 1, 2, 4),
                          strides=(1, 2, 1, 1)),
            decode_head=dict(
                type='ASPPHead',
                in_channels=512,
                in_index=3,
                channels=16,
                dilations=(1, 12, 24, 36),
                num_classes=19)))
    return model.state_dict()


def test_truncated_file(tmp_path, capsys):
    src, dst = tmp_path / 'cut.pth', tmp_path / 'out.pth'
    full = tmp_path / 'full.pth'
    torch.save(official_file(build_reference(CASES['nvidia']),
                             CASES['nvidia']), full)
    data = full.read_bytes()
    src.write_bytes(data[:len(data) // 2])
    status, err = run_in_process(capsys, str(src), str(dst))
    assert status == 2 and len(err) == 1
    assert 'not a readable PyTorch checkpoint' in err[0]
    assert not dst.exists()


def test_another_models_checkpoint(tmp_path, capsys):
    src, dst = tmp_path / 'deeplabv3.pth', tmp_path / 'out.pth'
    torch.save(dict(meta={}, state_dict=deeplabv3_state_dict()), src)
    status, err = run_in_process(capsys, str(src), str(dst))
    assert status == 2 and len(err) == 1
    assert 'expected an official OCRNet checkpoint' in err[0]
    for layout in ('openseg', 'openseg-v1', 'hrnet-ocr', 'nvidia',
                   'nvidia-mscale'):
        assert layout in err[0]
    assert not dst.exists()


def nvidia_state_dict(key: str) -> dict:
    return {
        f'module.{k}': v
        for k, v in build_reference(CASES[key]).state_dict_official().items()
    }


def test_wrong_source_is_an_error():
    with pytest.raises(UnknownLayoutError, match='no place'):
        convert_state_dict(nvidia_state_dict('nvidia'), 'openseg-v1')


def test_single_and_multi_scale_nvidia_are_not_mixed_up():
    """The multi-scale file's attention keys have no place in the
    single-scale model; the single-scale file lacks the attention head."""
    with pytest.raises(UnknownLayoutError, match='scale_attn.conv0.weight'):
        convert_state_dict(nvidia_state_dict('nvidia-mscale'), 'nvidia')
    with pytest.raises(UnknownLayoutError, match='attention_head.conv'):
        convert_state_dict(nvidia_state_dict('nvidia'), 'nvidia-mscale')


def test_numpy_scalar_allowed_but_not_arrays(tmp_path):
    """NVIDIA's ``mean_iu`` (a NumPy float64) loads; a NumPy array, which
    a weights-only load does not allow, is still refused."""
    ok, bad = tmp_path / 'scalar.pth', tmp_path / 'array.pth'
    state_dict = dict(w=torch.zeros(1))
    torch.save(dict(mean_iu=np.float64(0.8692), state_dict=state_dict), ok)
    torch.save(dict(mean_iu=np.zeros(2), state_dict=state_dict), bad)
    assert list(read_state_dict(str(ok))[0]) == ['w']
    with pytest.raises(CheckpointFileError, match='refused to unpickle'):
        read_state_dict(str(bad))


class RunsCode:
    """Pickles as a call to ``os.system``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


def test_code_carrying_pickle_is_refused(tmp_path):
    src, dst = tmp_path / 'evil.pth', tmp_path / 'out.pth'
    marker = tmp_path / 'ran'
    torch.save(dict(state_dict=RunsCode(f'touch {marker}')), src)
    result = subprocess.run(
        [sys.executable, str(TOOL), str(src), str(dst)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONWARNINGS='ignore'))  # the tool's own
    err = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(err) == 1, result.stderr
    assert 'refused to unpickle' in err[0] and 'system' in err[0]
    assert not marker.exists() and not dst.exists()
