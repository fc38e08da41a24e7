"""``prepare_for_inference(model, torch.bfloat16)``: the demo model's
``_forward`` and ``predict`` run under bf16 autocast with fp32 outputs, and
the trained demo model's predicted classes agree with fp32's.

The agreement is checked on the trained demo checkpoint and demo val set
(``tools/demo.sh`` makes both): a random-weight network amplifies bf16
rounding far beyond a trained one (92 % agreement measured on the
calibrated random demo model).
"""
import copy
from pathlib import Path

import pytest
import torch
from calibrated_models import build_calibrated, smooth_inputs
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_ocr_plus import prepare_for_inference

DEMO = 'demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'
REPO = Path(__file__).resolve().parents[2]
DEMO_CHECKPOINT = REPO / 'work_dirs/demo/iter_200.pth'
DEMO_VAL = REPO / 'data/demo_cityscapes/leftImg8bit/val'


@pytest.fixture(scope='module')
def demo_model():
    return build_calibrated(DEMO, smooth_inputs(8, 64, 128))


@pytest.mark.skipif(
    not (DEMO_CHECKPOINT.is_file() and DEMO_VAL.is_dir()),
    reason='needs the trained demo model and data: run tools/demo.sh')
def test_bf16_argmax_agrees_with_fp32_on_the_trained_demo_model():
    import cv2
    cfg = Config.fromfile(REPO / 'configs' / DEMO)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(DEMO_CHECKPOINT), map_location='cpu')
    images = [
        torch.from_numpy(cv2.imread(str(p))).permute(2, 0, 1)
        for p in sorted(DEMO_VAL.rglob('*.png'))
    ]
    assert len(images) >= 10
    inputs = model.data_preprocessor(dict(inputs=images), False)['inputs']
    reference = prepare_for_inference(copy.deepcopy(model))
    fast = prepare_for_inference(copy.deepcopy(model), dtype=torch.bfloat16)
    with torch.no_grad():
        expected = reference(inputs, mode='tensor')
        logits = fast(inputs, mode='tensor')
    assert logits.dtype == torch.float32
    # autocast ran: bf16 rounding moves the logits
    assert (logits - expected).abs().max() > 1e-3
    agreement = (logits.argmax(1) == expected.argmax(1)).float().mean()
    assert agreement >= 0.995, f'argmax agreement {agreement:.4f}'
    print(f'bf16 vs fp32 argmax agreement {agreement:.5f}, max abs logits '
          f'diff {(logits - expected).abs().max():.3g}')


def test_bf16_predict_gives_fp32_logits_at_image_size(demo_model):
    model = prepare_for_inference(
        copy.deepcopy(demo_model), dtype=torch.bfloat16)
    inputs = smooth_inputs(1, 64, 96)
    meta = dict(img_shape=(64, 96), ori_shape=(64, 96))
    with torch.no_grad():
        sample, = model.predict(inputs, [SegDataSample(metainfo=meta)])
    assert sample.seg_logits.data.dtype == torch.float32
    assert sample.seg_logits.data.shape == (19, 64, 96)
    assert sample.pred_sem_seg.data.shape == (1, 64, 96)


def test_default_path_is_untouched(demo_model):
    model = copy.deepcopy(demo_model)
    assert '_forward' not in vars(model)
    prepare_for_inference(model)  # fp32: no autocast wrapper either
    assert '_forward' not in vars(model)
    with pytest.raises(ValueError, match='Expected dtype'):
        prepare_for_inference(model, dtype=torch.int8)
