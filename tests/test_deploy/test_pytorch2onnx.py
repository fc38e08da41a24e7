"""``tools/deployment/pytorch2onnx.py``: the ONNX graph of ``_forward``
(and of the postprocess) gives PyTorch's logits under ONNX Runtime and, with
``--check-backend openvino``, under OpenVINO in fp32, at the traced size and,
with ``--dynamic``, at another batch and size. OpenVINO in bf16 runs the
same file and keeps PyTorch's argmax.

The models have random weights. BN-calibrated random networks amplify
rounding far more than trained ones (their Jacobians explode with depth:
Yang et al., "A Mean Field Theory of Batch Normalization", ICLR 2019), so
the tolerance is the tool's 1e-4 or four times the PyTorch model's own fp32
rounding error (its distance to the same model in float64; ONNX Runtime
and PyTorch each round by about that much) on the tool's
test images, whichever is larger. On the trained demo checkpoint the tool
measures 2.9e-6 at the default 1e-4.
"""
import copy
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from calibrated_models import CONFIGS, build_calibrated
from mmengine.config import Config

from mmseg_ocr_plus.deploy import compile_openvino, synthetic_inputs
from mmseg_ocr_plus.utils.preflight import InvalidInputError

pytest.importorskip('onnx', reason='ONNX export needs the deploy extra')
pytest.importorskip(
    'onnxruntime', reason='the parity check needs onnxruntime (deploy extra)')
needs_openvino = pytest.mark.skipif(
    importlib.util.find_spec('openvino') is None,
    reason='the OpenVINO check needs openvino (openvino extra)')
BACKENDS = ['onnxruntime', pytest.param('openvino', marks=needs_openvino)]

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools/deployment/pytorch2onnx.py'
DEMO = 'demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'
HR18 = 'ocrnet_plus/ocrnet_hr18_4xb2-40k_cityscapes-512x1024.py'
DIFF = re.compile(r'input \[(\d+), 3, (\d+), (\d+)\]: max abs logits diff '
                  r'(\S+) \(max \|logit\| (\S+)\)(?:, labels agree (\S+) %)?')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('pytorch2onnx', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checkpoint(config: str, path: Path) -> Path:
    """A random-weight checkpoint of ``config``, BN calibrated on images
    like the tool's test images."""
    preprocessor = Config.fromfile(CONFIGS / config).model.data_preprocessor
    images = synthetic_inputs(4, 64, 128, torch.tensor(preprocessor.mean),
                              torch.tensor(preprocessor.std), seed=1)
    model = build_calibrated(config, images)
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return path, model


def fp32_rounding(model, sizes) -> float:
    """Max abs fp32 - float64 logits of ``model`` on the tool's images."""
    mean = model.data_preprocessor.mean
    std = model.data_preprocessor.std
    model64 = copy.deepcopy(model).double()
    worst = 0.0
    with torch.no_grad():
        for n, h, w in sizes:
            x = synthetic_inputs(n, h, w, mean, std)
            diff = model(x, mode='tensor').double() - model64(
                x.double(), mode='tensor')
            worst = max(worst, diff.abs().max().item())
    return worst


def run(tool, capsys, config, ckpt, out, *options):
    tool.main([str(REPO / 'configs' / config), str(ckpt), '--out', str(out),
               *options])
    stdout = capsys.readouterr().out
    rows = DIFF.findall(stdout)
    assert rows, stdout
    backend = (options[options.index('--check-backend') + 1]
               if '--check-backend' in options else 'onnxruntime')
    assert stdout.count(f'{backend} vs PyTorch, input [') == len(rows), stdout
    return [(tuple(int(v) for v in r[:3]), float(r[3]), float(r[4]),
             float(r[5]) if r[5] else None) for r in rows]


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('config', [DEMO, HR18], ids=['demo', 'hr18'])
def test_export_matches_pytorch_at_two_sizes(tool, capsys, tmp_path, config,
                                             backend):
    ckpt, model = checkpoint(config, tmp_path / 'model.pth')
    sizes = [(1, 64, 128), (2, 96, 96)]
    tolerance = max(1e-4, 4 * fp32_rounding(model, sizes))
    out = tmp_path / 'model.onnx'
    rows = run(tool, capsys, config, ckpt, out, '--shape', '64', '128',
               '--dynamic', '--tolerance', str(tolerance), '--check-backend',
               backend)
    assert out.is_file()
    assert [r[0] for r in rows] == sizes
    for _, diff, scale, _ in rows:
        assert scale > 1  # a meaningful comparison
        assert diff <= tolerance

    import onnx
    graph = onnx.load(str(out)).graph
    assert [o.name for o in graph.output] == ['logits']
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == [
        'batch', 3, 'height', 'width'
    ]


def test_postprocess_adds_labels_at_input_size(tool, capsys, tmp_path):
    ckpt, model = checkpoint(DEMO, tmp_path / 'model.pth')
    tolerance = max(1e-4, 4 * fp32_rounding(model, [(1, 64, 96)]))
    out = tmp_path / 'model.onnx'
    rows = run(tool, capsys, DEMO, ckpt, out, '--shape', '64', '96',
               '--postprocess', '--tolerance', str(tolerance))
    (shape, diff, _, agreement), = rows
    assert shape == (1, 64, 96)
    assert diff <= tolerance
    assert agreement >= 99.9

    import onnxruntime as ort
    session = ort.InferenceSession(str(out))
    logits, labels = session.run(None, {'inputs': torch.zeros(
        1, 3, 64, 96).numpy()})
    assert logits.shape == (1, 19, 16, 24)  # HRNet: 1/4 of the input
    assert labels.shape == (1, 64, 96)


def test_exit_status_1_above_tolerance(tool, capsys, tmp_path):
    ckpt, _ = checkpoint(DEMO, tmp_path / 'model.pth')
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(REPO / 'configs' / DEMO), str(ckpt), '--out',
                   str(tmp_path / 'model.onnx'), '--shape', '64', '64',
                   '--tolerance', '0'])
    assert exit_info.value.code == 1
    assert 'FAILED: max abs diff' in capsys.readouterr().err


@needs_openvino
def test_openvino_bf16_keeps_the_argmax(tool, capsys, tmp_path):
    """bf16 rounds every layer (8 bits of mantissa), so only the argmax is
    compared; random weights amplify the rounding (see above), trained
    models keep far more than the 90 % asked here."""
    ckpt, model = checkpoint(DEMO, tmp_path / 'model.pth')
    out = tmp_path / 'model.onnx'
    run(tool, capsys, DEMO, ckpt, out, '--shape', '64', '128',
        '--check-backend', 'openvino', '--tolerance', '1')
    inputs = synthetic_inputs(1, 64, 128, model.data_preprocessor.mean,
                              model.data_preprocessor.std)
    with torch.no_grad():
        expected = model(inputs, mode='tensor').numpy()  # [1, 19, 16, 32]
    compiled = compile_openvino(str(out), 'bf16', threads=1)
    logits = compiled([inputs.numpy()])[compiled.outputs[0]]
    assert logits.shape == expected.shape
    assert np.isfinite(logits).all()
    agreement = (logits.argmax(1) == expected.argmax(1)).mean()
    assert agreement > 0.9, f'bf16 argmax agreement {agreement:.3f}'


def test_missing_openvino_names_the_extra(tool, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, 'find_spec',
        lambda name, *args: None if name == 'openvino' else find_spec(
            name, *args))
    with pytest.raises(InvalidInputError, match=re.escape(
            'openvino not installed: expected the openvino extra, pip '
            "install -e '.[openvino]'")):
        tool.main([str(REPO / 'configs' / DEMO), 'model.pth', '--out',
                   'model.onnx', '--check-backend', 'openvino'])
    monkeypatch.setitem(sys.modules, 'openvino', None)  # import fails
    with pytest.raises(ImportError, match=r"pip install -e '\.\[openvino\]'"):
        compile_openvino('model.onnx')
    with pytest.raises(ValueError, match="Expected precision in .*, got "
                       "'f16'"):
        compile_openvino('model.onnx', 'f16')
