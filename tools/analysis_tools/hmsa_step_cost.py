"""Time a training step of hierarchical multi-scale attention OCRNet
(https://arxiv.org/abs/2005.10821) against plain OCRNet.

Both steps run on one model built from a ``MultiScaleAttentionOCR`` config:
its own ``loss`` (the image at 0.5x and 1.0x, fused, three losses) and
``OCRCascadeEncoderDecoder.loss`` (OCRNet at 1.0x), each followed by the
backward pass. The two alternate; medians and their ratio are printed.

Example (the README's figure)::

    python tools/analysis_tools/hmsa_step_cost.py --threads 2
"""
import argparse
import statistics
import time
from pathlib import Path

import mmseg_ocr_plus  # noqa: F401  (its compat fixes go before MMSeg)

# isort: split
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_ocr_plus.models import OCRCascadeEncoderDecoder

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = (
    REPO / 'configs/hmsa/ocrnet-hmsa_hr18_4xb2-80k_cityscapes-512x1024.py')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=str(DEFAULT_CONFIG))
    parser.add_argument('--batch', type=int, default=2, help='training batch')
    parser.add_argument(
        '--size', type=int, nargs=2, default=[512, 1024], metavar=('H', 'W'))
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=None)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('mmseg')
    cfg = Config.fromfile(args.config)
    cfg.model.pretrained = None
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).train()
    num_classes = cfg.model.decode_head[-1].num_classes
    h, w = args.size
    torch.manual_seed(0)
    inputs = torch.randn(args.batch, 3, h, w)
    samples = []
    for _ in range(args.batch):
        sample = SegDataSample(metainfo=dict(img_shape=(h, w)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, h, w)))
        samples.append(sample)
    steps = dict(
        hmsa=lambda: model.loss(inputs, samples),
        ocrnet=lambda: OCRCascadeEncoderDecoder.loss(model, inputs, samples))
    times = {name: [] for name in steps}
    for repeat in range(args.repeats + 1):  # the first is a warm-up
        for name, step in steps.items():
            model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            losses = step()
            sum(v for k, v in losses.items() if 'loss' in k).backward()
            if repeat:
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f'{Path(args.config).name}, batch {args.batch}, {h}x{w}, '
          f'{torch.get_num_threads()} threads, median of {args.repeats}:')
    for name, median in medians.items():
        print(f'  {name}: {median:.2f} s per training step')
    print(f'  ratio hmsa / ocrnet: {medians["hmsa"] / medians["ocrnet"]:.2f}')


if __name__ == '__main__':
    main()
