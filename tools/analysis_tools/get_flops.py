"""Parameters and GMACs of a segmentor, split by backbone and heads.

Works on cascade models (OCRNet), where MMSeg's own ``get_flops.py`` fails
(upstream issue 3781). The model is built from the config (SyncBN reverted
to BN, no pretrained weights loaded) and one inference forward at the given
input shape is traced; see :mod:`mmseg_ocr_plus.utils.complexity` for what
is counted.

Example::

    python tools/analysis_tools/get_flops.py \\
        configs/ocrnet_plus/ocrnet_hr18_4xb2-40k_cityscapes-512x1024.py \\
        --shape 1024 2048
"""
import argparse
import json
import sys
from typing import Optional, Sequence

import mmseg_ocr_plus  # noqa: F401  # isort: skip  (compat fixes first)
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from mmseg_ocr_plus.utils.complexity import ModelComplexity, model_complexity
from mmseg_ocr_plus.utils.preflight import (
    InvalidInputError,
    check_config_path,
    run_tool,
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Params and GMACs of a segmentor, per backbone and head')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        help='input height and width (one number: square); default: the '
        "config's crop size (model.data_preprocessor.size), else 512 1024")
    parser.add_argument(
        '--json', action='store_true', help='print the result as JSON')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as in tools/train.py')
    return parser.parse_args(argv)


def input_hw(cfg: Config, shape: Optional[Sequence[int]]) -> tuple:
    """``(H, W)`` from ``--shape``, else the config's crop size."""
    if shape is None:
        size = cfg.model.get('data_preprocessor', {}).get('size')
        return tuple(size) if size else (512, 1024)
    if len(shape) not in (1, 2) or min(shape) <= 0:
        raise InvalidInputError(
            f'--shape: expected H W or one size, positive, got {shape}')
    return (shape[0], shape[-1])


def complexity_of_config(cfg: Config, hw: Sequence[int]) -> ModelComplexity:
    """Build the config's model without pretrained weights and count it."""
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    cfg.model.pretrained = None
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    return model_complexity(model, (1, 3, *hw))


def main(argv: Optional[Sequence[str]] = None) -> ModelComplexity:
    """Print the table (or JSON) for one config and return the counts."""
    args = parse_args(argv)
    check_config_path(args.config)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    hw = input_hw(cfg, args.shape)
    result = complexity_of_config(cfg, hw)
    if args.json:
        print(
            json.dumps(
                dict(
                    config=args.config,
                    input_shape=list(result.input_shape),
                    params=result.params,
                    macs=result.macs,
                    parts=[vars(p) for p in result.parts],
                    unsupported_ops=dict(result.unsupported_ops))))
    else:
        print(f'{args.config}\ninput shape: 1x3x{hw[0]}x{hw[1]}\n')
        print(result.table())
        print('\nMACs: one multiply-add = 1 (MMSeg and MMEngine print this '
              'number as FLOPs). Not counted: ' +
              ', '.join(sorted(result.unsupported_ops)))
    return result


if __name__ == '__main__':
    sys.exit(run_tool(main))
