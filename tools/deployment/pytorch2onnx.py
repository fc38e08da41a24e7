"""Export an OCRNet (cascade) segmentor to ONNX and check it with ONNX
Runtime or OpenVINO.

The graph's input is the preprocessed float image ``[N, 3, H, W]`` (after
the data preprocessor's mean/std, what ``model._forward`` takes); its output
``logits`` the last-stage logits as ``model._forward`` returns them (H/4 x
W/4 for HRNet). ``--postprocess`` adds ``labels`` ``[N, H, W]``: the argmax
of the logits resized to the input size. After the export, ``--check-backend``
(ONNX Runtime by default, or OpenVINO in fp32) runs the file on a synthetic
test image (smooth random colours, normalised by the config's data
preprocessor; with ``--dynamic`` also at a second batch size and image size)
and the max abs difference of the logits to PyTorch is printed; the exit
status is 1 if it exceeds ``--tolerance`` (1e-4).

Needs the ``deploy`` extra: ``pip install -e '.[deploy]'``; with
``--check-backend openvino`` the ``openvino`` extra instead:
``pip install -e '.[openvino]'``.

Example::

    python tools/deployment/pytorch2onnx.py \\
        configs/demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py \\
        work_dirs/demo/iter_200.pth --out ocrnet_demo.onnx \\
        --shape 128 256 --dynamic --postprocess
"""
import argparse
import importlib.util
import sys
from typing import Optional, Sequence

import mmseg_ocr_plus  # noqa: F401  # isort: skip  (compat fixes first)
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from mmseg_ocr_plus.deploy import (
    ONNX_BACKENDS,
    export_onnx,
    onnx_parity,
    synthetic_inputs,
)
from mmseg_ocr_plus.utils.preflight import (
    InvalidInputError,
    check_checkpoint_path,
    check_config_path,
    run_tool,
)
from mmseg_ocr_plus.utils.state_dict_check import load_weights

# The modules each --check-backend needs (the export needs onnx), and the
# extra that installs them.
REQUIRES = {
    'onnxruntime': (('onnx', 'onnxruntime'), 'deploy'),
    'openvino': (('onnx', 'openvino'), 'openvino'),
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('--out', required=True, help='ONNX file to write')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[512, 1024],
        metavar=('H', 'W'),
        help='input height and width traced (default: 512 1024)')
    parser.add_argument(
        '--dynamic',
        action='store_true',
        help='dynamic batch, height and width')
    parser.add_argument(
        '--postprocess',
        action='store_true',
        help='add the resize to the input size and the argmax (`labels`)')
    parser.add_argument(
        '--opset', type=int, default=17, help='ONNX opset (default: 17)')
    parser.add_argument(
        '--tolerance',
        type=float,
        default=1e-4,
        help='max abs logits difference allowed (default: 1e-4)')
    parser.add_argument(
        '--check-backend',
        choices=ONNX_BACKENDS,
        default='onnxruntime',
        help='what runs the ONNX file for the parity check, in fp32 '
        '(default: onnxruntime)')
    return parser.parse_args(argv)


def build_model(config: str, checkpoint: str) -> torch.nn.Module:
    """The config's segmentor with the checkpoint loaded, eval mode."""
    check_config_path(config)
    check_checkpoint_path(checkpoint)
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    cfg.model.pretrained = None
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    load_weights(model, checkpoint)  # strict: one line on a mismatch
    return model.eval()


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Export, check, print; exit status 1 if above the tolerance."""
    args = parse_args(argv)
    modules, extra = REQUIRES[args.check_backend]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise InvalidInputError(
            f'{" and ".join(missing)} not installed: expected the {extra} '
            f"extra, pip install -e '.[{extra}]'")
    h, w = args.shape
    if h < 32 or w < 32:
        raise InvalidInputError(f'--shape: expected H and W >= 32, got {h} '
                                f'{w}')
    model = build_model(args.config, args.checkpoint)
    exported = export_onnx(model, args.out, (h, w), args.dynamic,
                           args.postprocess, args.opset)
    print(f'wrote {args.out} (opset {args.opset}, input [N, 3, '
          f'{"H, W" if args.dynamic else f"{h}, {w}"}])')
    shapes = [(1, h, w)]
    if args.dynamic:  # another batch and size than the traced one
        shapes.append((2, h + 32, w - 32 if w > 64 else w + 32))
    worst = 0.0
    preprocessor = model.data_preprocessor
    for n, sh, sw in shapes:
        inputs = synthetic_inputs(n, sh, sw, preprocessor.mean.cpu(),
                                  preprocessor.std.cpu())
        result = onnx_parity(exported, args.out, inputs, args.check_backend)
        worst = max(worst, result['max_abs_diff'])
        line = (f'{args.check_backend} vs PyTorch, input [{n}, 3, {sh}, '
                f'{sw}]: max abs logits diff {result["max_abs_diff"]:.3g} '
                f'(max |logit| {result["logits_max"]:.3g})')
        if 'label_agreement' in result:
            line += f', labels agree {100 * result["label_agreement"]:.3f} %'
        print(line)
    if worst > args.tolerance:
        print(f'FAILED: max abs diff {worst:.3g} > tolerance '
              f'{args.tolerance:g}', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    sys.exit(run_tool(main))
