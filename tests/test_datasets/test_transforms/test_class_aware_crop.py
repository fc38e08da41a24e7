"""ClassAwareRandomCrop: crops, class-centred draws, seeding, statistics."""
import copy

import numpy as np
import pytest
import torch
from mmcv.transforms.utils import cache_random_params
from mmseg.datasets.transforms import RandomCrop
from mmseg.registry import TRANSFORMS

from mmseg_ocr_plus.datasets import ClassAwareRandomCrop
from mmseg_ocr_plus.datasets.transforms import class_aware_crop

RARE = 2  # class id of the small blob in ``scene``


def scene():
    """64x64 labels: class 1 above class 0, a 4x4 blob of class 2 near the
    bottom-right corner (0.4 % of the pixels), and a strip of ignore."""
    seg = np.zeros((64, 64), np.uint8)
    seg[:32] = 1
    seg[52:56, 50:54] = RARE
    seg[:, :2] = 255
    return seg


def coords_image(h, w):
    """An image whose channels are each pixel's y, x and y + x."""
    y, x = np.mgrid[:h, :w].astype(np.float32)
    return np.stack([y, x, y + x], axis=-1)


def make_results(seg, img=None):
    if img is None:
        img = coords_image(*seg.shape)
    return dict(img=img, img_shape=img.shape[:2], gt_seg_map=seg.copy(),
                seg_fields=['gt_seg_map'])


def bboxes(transform, seg, n):
    return [transform.crop_bbox(make_results(seg)) for _ in range(n)]


def rare_statistics(transform, seg, n=2000):
    """Share of crops holding the rare class, and its mean pixel share."""
    holds, share = 0, 0.
    for _ in range(n):
        crop = transform(make_results(seg))['gt_seg_map']
        rare = crop == RARE
        holds += bool(rare.any())
        share += rare.mean()
    return holds / n, share / n


def test_crops_image_and_every_seg_field_alike():
    seg = scene()
    transform = TRANSFORMS.build(
        dict(type='ClassAwareRandomCrop', crop_size=(16, 24), seed=0))
    assert isinstance(transform, ClassAwareRandomCrop)
    for _ in range(50):
        results = make_results(seg)
        results['gt_edge_map'] = coords_image(64, 64)[..., 2].copy()
        results['seg_fields'].append('gt_edge_map')
        out = transform(results)
        img = out['img']
        assert img.shape == (16, 24, 3)
        assert out['img_shape'] == (16, 24)
        y1, x1 = int(img[0, 0, 0]), int(img[0, 0, 1])
        np.testing.assert_array_equal(out['gt_seg_map'],
                                      seg[y1:y1 + 16, x1:x1 + 24])
        np.testing.assert_array_equal(out['gt_edge_map'], img[..., 2])


def test_prob_zero_is_random_crop_draw_for_draw():
    """prob=0 without a seed draws exactly as MMSeg's RandomCrop, with the
    same cat_max_ratio retries."""
    seg = scene()
    for ratio in (1., 0.75):
        ours = ClassAwareRandomCrop(24, prob=0, cat_max_ratio=ratio)
        theirs = RandomCrop((24, 24), cat_max_ratio=ratio)
        np.random.seed(3)
        expected = bboxes(theirs, seg, 200)
        np.random.seed(3)
        assert bboxes(ours, seg, 200) == expected


def test_prob_one_centres_on_a_pixel_of_the_class():
    seg = np.zeros((64, 64), np.uint8)
    seg[40, 21] = 5  # one pixel: the crop must be centred on it
    transform = ClassAwareRandomCrop(
        (16, 10), prob=1, rare_classes=[5], seed=0)
    for _ in range(20):
        assert transform.crop_bbox(make_results(seg)) == (32, 48, 16, 26)
    # Near the border the crop is clamped to the image, pixel still inside.
    seg[:] = 0
    seg[62, 1] = 5
    for _ in range(20):
        assert transform.crop_bbox(make_results(seg)) == (48, 64, 0, 10)
    # A blob away from the border: the drawn pixel is the crop's centre.
    transform = ClassAwareRandomCrop(16, prob=1, rare_classes=[RARE], seed=1)
    for _ in range(200):
        assert transform(make_results(scene()))['gt_seg_map'][8, 8] == RARE


def test_rare_class_sampled_more_often_than_random_crop():
    """Over 2000 seeded draws on the same image, the rare class (16 pixels,
    0.4 %) is in about 3 times as many 16x16 crops as with RandomCrop and
    has 3.6 times its mean pixel share; restricted to the rare class, 7 and
    9 times."""
    seg = scene()
    np.random.seed(0)
    base_holds, base_share = rare_statistics(RandomCrop((16, 16)), seg)
    ours_holds, ours_share = rare_statistics(
        ClassAwareRandomCrop(16, prob=0.5, seed=0), seg)
    rare_holds, rare_share = rare_statistics(
        ClassAwareRandomCrop(16, prob=0.5, rare_classes=[RARE], seed=0), seg)
    # Measured (share of crops holding the class / mean share of its
    # pixels): RandomCrop 7.9 % / 0.37 %, ours 22.8 % / 1.34 %, ours with
    # rare_classes 53.5 % / 3.30 %. A uniform offset hits the blob with
    # probability (12 / 49) * (14 / 49) = 7.0 %; with prob=0.5 and three
    # classes present, 1/6 of the crops are centred on it.
    assert abs(base_holds - 12 * 14 / 49**2) < 0.02
    assert ours_holds > base_holds + 0.1
    assert ours_share > 2.5 * base_share
    assert rare_holds > 0.45
    assert rare_share > 6 * base_share


def test_rare_classes_restrict_the_drawn_class():
    seg = np.zeros((64, 64), np.uint8)
    seg[2:4, 2:4] = 1  # top-left blob
    seg[60:62, 60:62] = 2  # bottom-right blob, more than a crop away
    transform = ClassAwareRandomCrop(16, prob=1, rare_classes=[2], seed=0)
    crops = [transform(make_results(seg))['gt_seg_map'] for _ in range(100)]
    assert all((c == 2).any() and not (c == 1).any() for c in crops)

    transform = ClassAwareRandomCrop(16, prob=1, rare_classes=[1, 1], seed=0)
    assert transform.rare_classes == (1, )
    crops = [transform(make_results(seg))['gt_seg_map'] for _ in range(100)]
    assert all((c == 1).any() and not (c == 2).any() for c in crops)

    # No rare class in the image: drawn among all classes present.
    transform = ClassAwareRandomCrop(16, prob=1, rare_classes=[7], seed=0)
    crops = [transform(make_results(seg))['gt_seg_map'] for _ in range(300)]
    assert sum((c == 1).any() for c in crops) > 50
    assert sum((c == 2).any() for c in crops) > 50
    assert ClassAwareRandomCrop(16, rare_classes=[]).rare_classes is None


def test_seed_makes_crops_reproducible():
    seg = scene()
    first = bboxes(ClassAwareRandomCrop(16, seed=7), seg, 100)
    np.random.seed(123)  # the global state does not matter with a seed
    assert bboxes(ClassAwareRandomCrop(16, seed=7), seg, 100) == first
    assert bboxes(ClassAwareRandomCrop(16, seed=8), seg, 100) != first
    # Without a seed the global np.random (MMEngine's randomness.seed)
    # makes the crops reproducible.
    np.random.seed(5)
    unseeded = bboxes(ClassAwareRandomCrop(16), seg, 100)
    np.random.seed(5)
    assert bboxes(ClassAwareRandomCrop(16), seg, 100) == unseeded


def test_workers_and_ranks_get_their_own_stream(monkeypatch):
    seg = scene()
    used = ClassAwareRandomCrop(16, seed=7)
    main = bboxes(used, seg, 50)
    streams = {}
    for worker in (0, 1):
        monkeypatch.setattr(class_aware_crop, '_worker_id', lambda w=worker: w)
        # The copy a worker gets, after the main process used it.
        streams[worker] = bboxes(copy.deepcopy(used), seg, 50)
        assert streams[worker] == bboxes(
            ClassAwareRandomCrop(16, seed=7), seg, 50)
    assert len({str(main), str(streams[0]), str(streams[1])}) == 3
    monkeypatch.setattr(class_aware_crop, 'get_rank', lambda: 1)
    assert bboxes(ClassAwareRandomCrop(16, seed=7), seg, 50) != streams[1]


class _Crops(torch.utils.data.Dataset):

    def __init__(self, transform):
        self.transform = transform

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return torch.tensor(self.transform.crop_bbox(make_results(scene())))


def test_dataloader_workers_crop_differently_and_reproducibly():
    loader = torch.utils.data.DataLoader(
        _Crops(ClassAwareRandomCrop(16, seed=3)),
        batch_size=4,
        num_workers=2,
        multiprocessing_context='fork')
    first = [b.tolist() for b in loader]  # worker 0: batch 0, worker 1: 1
    assert first == [b.tolist() for b in loader]
    assert first[0] != first[1]


def test_cache_random_params_repeats_the_box():
    transform = ClassAwareRandomCrop(16, seed=0)
    results = make_results(scene())
    with cache_random_params(transform):
        box = transform.crop_bbox(results)
        assert all(transform.crop_bbox(results) == box for _ in range(10))
    # Whole calls under the cache, ours and MMSeg's (whose list of random
    # methods the subclass must leave alone).
    for crop in (transform, RandomCrop((16, 16))):
        with cache_random_params(crop):
            assert crop(make_results(scene()))['img'].shape == (16, 16, 3)
    assert RandomCrop._methods_with_randomness == ['crop_bbox']


@pytest.mark.parametrize('prob', [0, 0.5, 1])
def test_image_smaller_than_crop(prob):
    seg = scene()[:10, :40]
    transform = ClassAwareRandomCrop((16, 32), prob=prob, seed=0)
    for _ in range(20):
        out = transform(make_results(seg))
        assert out['img'].shape[:2] == (10, 32)
        assert out['img_shape'] == (10, 32)
        assert out['gt_seg_map'].shape == (10, 32)
    transform = ClassAwareRandomCrop((64, 64), prob=prob, seed=0)
    out = transform(make_results(seg))
    np.testing.assert_array_equal(out['gt_seg_map'], seg)


@pytest.mark.parametrize('ratio', [1., 0.75])
def test_only_ignore_pixels_falls_back_to_a_standard_crop(ratio):
    seg = np.full((40, 50), 255, np.uint8)
    transform = ClassAwareRandomCrop(
        16, prob=1, cat_max_ratio=ratio, rare_classes=[3], seed=0)
    boxes = set()
    for _ in range(30):
        results = make_results(seg)
        out = transform(results)
        assert out['gt_seg_map'].shape == (16, 16)
        boxes.add((int(out['img'][0, 0, 0]), int(out['img'][0, 0, 1])))
    assert len(boxes) > 1  # random offsets, not a fixed corner


def test_other_label_dtypes():
    seg = scene().astype(np.int64)
    seg[0, 5] = -1  # a signed map: class ids found with np.unique
    transform = ClassAwareRandomCrop(8, prob=1, rare_classes=[RARE], seed=0)
    for _ in range(10):
        crop = transform(make_results(seg))['gt_seg_map']
        assert (crop == RARE).any()


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(crop_size=0), ValueError, 'positive ints, got 0'),
    (dict(crop_size=(16, -1)), ValueError, r'positive ints, got \(16, -1\)'),
    (dict(crop_size=(16, 8.5)), ValueError, 'positive ints'),
    (dict(crop_size='16'), TypeError, r"int or an \(h, w\) pair.*'16'"),
    (dict(crop_size=(1, 2, 3)), TypeError, r'got \(1, 2, 3\)'),
    (dict(prob=1.5), ValueError, r'prob to be a number in \[0, 1\], got 1.5'),
    (dict(prob=-0.1), ValueError, 'got -0.1'),
    (dict(prob='0.5'), ValueError, "got '0.5'"),
    (dict(cat_max_ratio=0), ValueError, r'cat_max_ratio .*\(0, 1\], got 0'),
    (dict(ignore_index=255.), TypeError, 'ignore_index to be an int'),
    (dict(rare_classes=[1, -2]), ValueError,
     r'non-negative integer class ids, got -2'),
    (dict(rare_classes=[1.0]), ValueError, 'got 1.0'),
    (dict(rare_classes=3), TypeError, 'sequence of class ids, got int'),
    (dict(rare_classes=[255]), ValueError, 'exclude ignore_index 255'),
    (dict(seed=-1), ValueError, 'non-negative int, got -1'),
    (dict(seed=1.5), ValueError, 'got 1.5'),
])
def test_bad_arguments(kwargs, error, match):
    kwargs = dict(dict(crop_size=16), **kwargs)
    with pytest.raises(error, match=match):
        ClassAwareRandomCrop(**kwargs)


def test_bad_inputs():
    transform = ClassAwareRandomCrop(16)
    with pytest.raises(ValueError, match='non-negative integer class ids'):
        ClassAwareRandomCrop(16, rare_classes=['car'])
    results = make_results(scene())
    del results['gt_seg_map']
    with pytest.raises(KeyError, match="expected results\\['gt_seg_map'\\]"):
        transform(results)
    results = make_results(scene(), img=coords_image(32, 64))
    with pytest.raises(ValueError, match=r'size \(32, 64\), got shape'):
        transform(results)


def test_repr():
    transform = ClassAwareRandomCrop((8, 16), prob=0.25, rare_classes=[3],
                                     seed=1)
    assert repr(transform) == (
        'ClassAwareRandomCrop(crop_size=(8, 16), prob=0.25, '
        'cat_max_ratio=1.0, ignore_index=255, rare_classes=(3,), seed=1)')


def test_pipeline_on_demo_dataset(tmp_path):
    from demo_scenes import generate_demo_dataset
    from mmseg.datasets import CityscapesDataset

    root = tmp_path / 'demo'
    generate_demo_dataset(root, num_train=4, num_val=1, size=(64, 128))
    data = CityscapesDataset(
        data_root=str(root),
        data_prefix=dict(
            img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='ClassAwareRandomCrop', crop_size=(32, 48), prob=1,
                 rare_classes=[11, 12], cat_max_ratio=0.75, seed=0),
        ])
    assert len(data) == 4
    for index in range(len(data)):
        sample = data[index]
        assert sample['img'].shape == (32, 48, 3)
        assert sample['img_shape'] == (32, 48)
        assert sample['gt_seg_map'].shape == (32, 48)
        assert sample['gt_seg_map'].dtype == np.uint8


def test_crop_statistics_tool(capsys):
    import importlib.util
    from pathlib import Path

    path = (Path(__file__).resolve().parents[3] /
            'tools/analysis_tools/crop_statistics.py')
    spec = importlib.util.spec_from_file_location('crop_statistics', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    text = tool.main([
        '--num-images', '2', '--size', '32', '64', '--crop-size', '16', '16',
        '--draws', '5', '--rare-classes', '11', '12'
    ])
    assert text in capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith('ClassAwareRandomCrop(crop_size=(16, 16)')
    assert 'RandomCrop px%' in lines[1] and 'ClassAware in%' in lines[1]
    assert len(lines) == 2 + 19 + 1
    assert lines[-1].startswith('(10 crops per transform')
