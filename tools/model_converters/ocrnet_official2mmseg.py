"""Convert an official OCRNet checkpoint to this plugin's MMSeg model.

A thin command line around :func:`mmseg_ocr_plus.converters.
convert_checkpoint`: openseg.pytorch (master InPlaceABN releases and
pytorch-1.7 / v1.0 releases), HRNet-Semantic-Segmentation HRNet-OCR
(``*_torch11.pth``, ``*_torch04.pth``) and NVIDIA semantic-segmentation
``ocrnet.HRNet`` and ``ocrnet.HRNet_Mscale`` (to ``MultiScaleAttentionOCR``).
The file is read with ``weights_only=True`` (NumPy scalars allowed); a bad
input is one line on stderr, exit status 2, and nothing is written.

Example::

    python tools/model_converters/ocrnet_official2mmseg.py \\
        hrnet_ocr_cs_8162_torch11.pth checkpoints/hrnet-ocr_cs.pth
    python tools/test.py \\
        configs/ocrnet_plus/official/ocrnet_hr48_hrnet-ocr_cityscapes-512x1024.py \\
        checkpoints/hrnet-ocr_cs.pth
"""  # noqa: E501
import argparse
import sys
from typing import Optional, Sequence

import mmseg_ocr_plus  # noqa: F401  # isort: skip  (compat fixes first)
from mmseg_ocr_plus.converters import LAYOUTS, convert_checkpoint
from mmseg_ocr_plus.utils.preflight import run_tool


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='converted MMSeg checkpoint to write')
    parser.add_argument(
        '--source',
        choices=sorted(LAYOUTS),
        help='layout of SRC; detected from its keys when omitted')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    meta = convert_checkpoint(args.src, args.dst, args.source)
    print(f'{args.src}: {meta["source"]} layout ({meta["norm"]}), '
          f'{meta["num_classes"]} classes, sha256 {meta["sha256"][:12]}')
    for rule in meta['rules']:
        print(f'  - {rule}')
    for key in meta['dropped_keys']:
        print(f'  dropped {key}')
    config = meta['config']
    where = (f'configs/ocrnet_plus/official/{config}'
             if config else 'none here for this number of classes')
    print(f'wrote {args.dst}; config: {where}')


if __name__ == '__main__':
    sys.exit(run_tool(main))
