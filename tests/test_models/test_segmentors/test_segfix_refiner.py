"""``SegFixRefiner``: the demo OCRNet refined by the demo SegFix (seeded
random weights) in one ``test_step``, checked against a refinement written
here from the paper's rule; label ids never invented; the errors for a
SegFix that does not fit."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_ocr_plus.datasets.transforms import GenerateSegFixTargets
from mmseg_ocr_plus.utils.preflight import InvalidInputError
from mmseg_ocr_plus.utils.state_dict_check import CheckpointMismatchError

REPO = Path(__file__).resolve().parents[3]
OCRNET_CONFIG = (REPO / 'configs/demo/'
                 'ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py')
SEGFIX_CONFIG = (REPO / 'configs/segfix/'
                 'segfix_hr18s_1xb8-200it_demo-cityscapes-128x128.py')


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """Seeded random SegFix weights, and OCRNet's (a wrong SegFix one)."""
    root = tmp_path_factory.mktemp('segfix_refiner')
    paths = {}
    for name, config, seed in (('segfix', SEGFIX_CONFIG, 1),
                               ('ocrnet', OCRNET_CONFIG, 0)):
        torch.manual_seed(seed)
        model = MODELS.build(Config.fromfile(config).model)
        paths[name] = root / f'{name}.pth'
        torch.save(dict(state_dict=model.state_dict()), paths[name])
    return paths


def build(checkpoint, scale=2, **preprocessor):
    module = Config.fromfile(OCRNET_CONFIG).model
    module.data_preprocessor.update(preprocessor)
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='SegFixRefiner',
            module=module,
            segfix_config=str(SEGFIX_CONFIG),
            segfix_checkpoint=str(checkpoint),
            scale=scale)).eval()


def reference_refinement(labels, boundary, direction, scale, ignore_index):
    """The paper's rule, pixel by pixel: a boundary pixel takes the label
    ``scale`` direction steps away (nearest pixel), unless that pixel is
    outside the image or ignored."""
    h, w = labels.shape
    out = labels.copy()
    for y in range(h):
        for x in range(w):
            if boundary[y, x] != 1:
                continue
            dy, dx = GenerateSegFixTargets.directions[direction[y, x]]
            ty, tx = y + round(dy * scale), x + round(dx * scale)
            if 0 <= ty < h and 0 <= tx < w and labels[ty, tx] != ignore_index:
                out[y, x] = labels[ty, tx]
    return out


def test_step_refines_as_the_paper(checkpoints):
    model = build(checkpoints['segfix'])
    torch.manual_seed(2)
    h, w = 48, 64
    image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w))
    data = dict(inputs=[image], data_samples=[SegDataSample(metainfo=meta)])
    with torch.no_grad():
        sample = model.test_step(data)[0]
        # SegFix alone, on the inputs as the segmentor preprocesses them.
        inputs = model.module.data_preprocessor(data, False)['inputs']
        fix = model.segfix.predict(inputs, [SegDataSample(metainfo=meta)])[0]
    raw = sample.pred_sem_seg_raw.data[0].numpy()
    refined = sample.pred_sem_seg.data[0].numpy()
    assert raw.shape == refined.shape == (h, w)
    expected = reference_refinement(raw, fix.pred_boundary_map.data[0].numpy(),
                                    fix.pred_direction_map.data[0].numpy(),
                                    2, 255)
    np.testing.assert_array_equal(refined, expected)
    assert set(np.unique(refined)) <= set(np.unique(raw))
    assert 'seg_logits' in sample  # the segmentor's, kept


def test_labels_never_get_new_ids(checkpoints):
    model = build(checkpoints['segfix'], scale=1.5)  # offsets off the grid
    h, w = 20, 24
    rng = np.random.default_rng(0)
    labels = rng.choice([3, 7, 255], size=(h, w)).astype(np.int64)
    samples = []
    for _ in range(2):
        sample = SegDataSample(
            pred_sem_seg=PixelData(data=torch.from_numpy(labels)[None]))
        fix = SegDataSample(
            pred_boundary_map=PixelData(
                data=torch.from_numpy(rng.integers(0, 2, (1, h, w)))),
            pred_direction_map=PixelData(
                data=torch.from_numpy(rng.integers(0, 8, (1, h, w)))))
        samples.append((sample, fix))
    for sample in model.merge_preds(samples):
        refined = sample.pred_sem_seg.data[0].numpy()
        assert set(np.unique(refined)) <= {3, 7, 255}
        assert (refined != labels).any()
        # An ignored label is never copied onto another pixel.
        assert ((refined == 255) <= (labels == 255)).all()
        np.testing.assert_array_equal(sample.pred_sem_seg_raw.data[0],
                                      labels)


def test_different_normalisation_refused(checkpoints):
    with pytest.raises(InvalidInputError,
                       match=r'expected the data preprocessor normalisation '
                       r".*found std \[1.0, 1.0, 1.0\] vs \[58.395"):
        build(checkpoints['segfix'], std=[1.0, 1.0, 1.0])


def test_wrong_segfix_checkpoint_refused(checkpoints):
    with pytest.raises(CheckpointMismatchError, match='ocrnet.pth'):
        build(checkpoints['ocrnet'])
