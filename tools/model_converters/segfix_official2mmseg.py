"""Convert an official openseg.pytorch SegFix checkpoint to this plugin's
``SegFix`` model.

A thin command line around :func:`mmseg_ocr_plus.converters.
convert_segfix_checkpoint`, for openseg's ``segfix_hrnet`` nets on
HRNet-W48 (``segfix_hrnet_hrnet48_segfix_loss_iter80000_1_latest.pth``).
The file is read with ``weights_only=True``; a bad input is one line on
stderr, exit status 2, and nothing is written.

Example::

    python tools/model_converters/segfix_official2mmseg.py \\
        segfix_hrnet_hrnet48_segfix_loss_iter80000_1_latest.pth \\
        checkpoints/segfix_hr48_openseg.pth
    python tools/test.py OPENSEG_OCRNET_CONFIG OCRNET_CKPT --segfix \\
        configs/segfix/segfix_hr48_openseg_cityscapes-512x512.py \\
        checkpoints/segfix_hr48_openseg.pth
"""
import argparse
import sys
from typing import Optional, Sequence

import mmseg_ocr_plus  # noqa: F401  # isort: skip  (compat fixes first)
from mmseg_ocr_plus.converters import convert_segfix_checkpoint
from mmseg_ocr_plus.utils.preflight import run_tool


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official SegFix checkpoint (.pth)')
    parser.add_argument('dst', help='converted MMSeg checkpoint to write')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    meta = convert_segfix_checkpoint(args.src, args.dst)
    print(f'{args.src}: {meta["source"]} layout ({meta["norm"]}, head '
          f'activation {meta["head_activation"]}), {meta["num_directions"]} '
          f'directions, sha256 {meta["sha256"][:12]}')
    for rule in meta['rules']:
        print(f'  - {rule}')
    for key in meta['dropped_keys']:
        print(f'  dropped {key}')
    config = meta['config']
    where = (f'configs/segfix/{config}' if config else
             'none here: a BN file needs configs/segfix/'
             'segfix_hr48_openseg_cityscapes-512x512.py with '
             "decode_head act_cfg=dict(type='ReLU')")
    print(f'wrote {args.dst}; config: {where}')


if __name__ == '__main__':
    sys.exit(run_tool(main))
