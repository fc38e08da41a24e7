"""RegionVisualizationHook with a ``Mock()`` runner around a real tiny
OCRNet, and the ``record_maps`` API of ``OCRPlusHead`` it reads.

The real short runs through ``tools/train.py`` and ``tools/test.py`` are in
``tests/test_tools/test_region_visualization_run.py``.
"""
from itertools import count
from unittest.mock import Mock, PropertyMock

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.model import BaseTTAModel
from mmengine.structures import PixelData
from mmseg.registry import HOOKS, MODELS
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer

from mmseg_ocr_plus.engine.hooks import region_visualization_hook as rvh
from mmseg_ocr_plus.engine.hooks.region_visualization_hook import (
    RegionVisualizationHook,
)
from mmseg_ocr_plus.models.decode_heads import OCRPlusHead, SoftRegionHead

BN = dict(type='BN', requires_grad=True)
HR_CH = (4, 8, 16, 32)
K = 5
CLASSES = ('road', 'wall', 'tree', 'sky', 'car')
PALETTE = [[128, 64, 128], [102, 102, 156], [107, 142, 35], [70, 130, 180],
           [0, 0, 142]]
ORI = (24, 36)  # (h, w) of the image files
INPUT = (32, 48)  # (h, w) after the pipeline's resize


# ``OCRPlusHead.record_maps``.


def make_heads(**ocr_kwargs):
    """An aux head and an OCR head on 16-channel features, in eval mode."""
    torch.manual_seed(0)
    aux = SoftRegionHead(
        in_channels=16,
        channels=16,
        num_classes=K,
        kernel_size=1,
        num_convs=1,
        concat_input=False,
        dropout_ratio=-1,
        norm_cfg=BN)
    ocr = OCRPlusHead(
        in_channels=16,
        channels=8,
        ocr_channels=4,
        num_classes=K,
        dropout_ratio=-1,
        norm_cfg=BN,
        **ocr_kwargs)
    return aux.eval(), ocr.eval()


@pytest.mark.parametrize('query_pool, size, attention_size',
                         [(1, (9, 13), (9, 13)), (2, (9, 13), (4, 6))])
def test_recording_keeps_outputs_and_records_shapes(query_pool, size,
                                                    attention_size):
    aux, ocr = make_heads(query_pool=query_pool)
    inputs = [torch.randn(2, 16, *size)]
    prev = aux(inputs)  # [2, K, 9, 13]
    with torch.no_grad():
        off = ocr(inputs, prev)
        ocr.record_maps = True
        on = ocr(inputs, prev)
    torch.testing.assert_close(on, off, rtol=0, atol=0)

    maps = ocr.recorded_maps
    assert set(maps) == {'soft_regions', 'attention'}
    torch.testing.assert_close(maps['soft_regions'], prev)  # the logits
    assert maps['attention'].shape == (2, K, *attention_size)
    assert maps['attention'].dtype == torch.float32
    # A softmax over the K regions at every query position.
    torch.testing.assert_close(maps['attention'].sum(1),
                               torch.ones(2, *attention_size))
    assert ocr.object_context_block.last_attention is None  # handed up


def test_recorded_maps_are_detached_and_at_feature_size():
    aux, ocr = make_heads()
    ocr.train()
    ocr.record_maps = True
    inputs = [torch.randn(1, 16, 10, 12)]
    prev = torch.randn(1, K, 5, 6, requires_grad=True)  # resized inside
    ocr(inputs, prev).sum().backward()
    maps = ocr.recorded_maps
    assert maps['soft_regions'].shape == (1, K, 10, 12)
    assert not maps['soft_regions'].requires_grad
    assert not maps['attention'].requires_grad


def test_nothing_recorded_when_off():
    aux, ocr = make_heads()
    inputs = [torch.randn(1, 16, 9, 13)]
    assert ocr.record_maps is False
    ocr(inputs, aux(inputs))
    assert ocr.recorded_maps is None
    assert ocr.object_context_block.last_attention is None

    ocr.record_maps = True
    ocr(inputs, aux(inputs))
    assert ocr.recorded_maps is not None
    ocr.record_maps = False  # frees the maps at once
    assert ocr.recorded_maps is None
    ocr(inputs, aux(inputs))
    assert ocr.recorded_maps is None
    # Not a constructor argument, not in the state dict.
    assert all('record' not in key for key in ocr.state_dict())


# The hook, with a mocked runner.


def tiny_ocrnet_cfg(last_head: str = 'OCRPlusHead', **test_cfg) -> ConfigDict:
    """A small HRNet OCRNet with K = 5 classes."""
    blocks = dict(stage1=('BOTTLENECK', (8, )))
    for stage in (2, 3, 4):
        blocks[f'stage{stage}'] = ('BASIC', HR_CH[:stage])
    extra = {
        name:
        dict(
            num_modules=1,
            num_branches=len(channels),
            block=block,
            num_blocks=(1, ) * len(channels),
            num_channels=channels)
        for name, (block, channels) in blocks.items()
    }
    common = dict(
        in_channels=list(HR_CH),
        in_index=(0, 1, 2, 3),
        input_transform='resize_concat',
        dropout_ratio=-1,
        num_classes=K,
        norm_cfg=BN,
        align_corners=False)
    last = dict(type=last_head, channels=16, **common)
    if last_head == 'OCRPlusHead':
        last['ocr_channels'] = 8
    else:  # FCNHead
        last.update(num_convs=1, concat_input=False)
    return ConfigDict(
        type='OCRCascadeEncoderDecoder',
        num_stages=2,
        data_preprocessor=dict(
            type='SegDataPreProcessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
            test_cfg=dict(size_divisor=32)),  # pads 32x48 to 32x64
        backbone=dict(type='HRNet', norm_cfg=BN, extra=extra),
        decode_head=[
            dict(
                type='SoftRegionHead',
                channels=sum(HR_CH),
                kernel_size=1,
                num_convs=1,
                concat_input=False,
                **common), last
        ],
        train_cfg=dict(),
        test_cfg=dict(dict(mode='whole'), **test_cfg))


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return MODELS.build(tiny_ocrnet_cfg()).eval()


@pytest.fixture(scope='module')
def batches(tmp_path_factory):
    """Three validation batches of two images each (files of ORI size,
    network inputs of INPUT size), as ``PackSegInputs`` packs them."""
    root = tmp_path_factory.mktemp('images')
    rng = np.random.RandomState(0)
    result = []
    for b in range(3):
        inputs, samples = [], []
        for i in range(2):
            path = root / f'img_{b}{i}.png'
            image = rng.randint(0, 256, (*ORI, 3), dtype=np.uint8)
            cv2.imwrite(str(path), image)
            resized = cv2.resize(image, INPUT[::-1])
            inputs.append(torch.from_numpy(resized).permute(2, 0, 1))
            gt = torch.from_numpy(rng.randint(0, K, (1, *ORI)))
            gt[:, :3] = 255  # ignored
            samples.append(
                SegDataSample(
                    metainfo=dict(
                        img_path=str(path),
                        ori_shape=ORI,
                        img_shape=INPUT,
                        scale_factor=(INPUT[1] / ORI[1], INPUT[0] / ORI[0])),
                    gt_sem_seg=PixelData(data=gt)))
        result.append(dict(inputs=inputs, data_samples=samples))
    return result


VISUALIZERS = count()


def mock_runner(model, iteration=7):
    """A ``Mock()`` runner with a real ``SegLocalVisualizer`` whose
    ``dataset_meta`` is set as the val and test loops set it, and whose
    ``add_image`` is a ``Mock``."""
    runner = Mock()
    runner.model = model
    runner.iter = iteration
    runner.visualizer = SegLocalVisualizer(name=f'rvh{next(VISUALIZERS)}')
    runner.visualizer.dataset_meta = dict(classes=CLASSES, palette=PALETTE)
    runner.visualizer.add_image = Mock()
    return runner


def spy_texts(runner):
    """The tile labels the hook draws, one list per picture."""
    texts = []
    vis = runner.visualizer
    original = vis.draw_texts
    vis.draw_texts = lambda t, *args, **kwargs: texts.append(t) or original(
        t, *args, **kwargs)
    return texts


def run_epoch(hook, runner, model, batches, mode='val'):
    """Call the hook as a ValLoop/TestLoop does; return the outputs."""
    hook.before_run(runner)
    getattr(hook, f'before_{mode}_epoch')(runner)
    all_outputs = []
    for i, batch in enumerate(batches):
        with torch.no_grad():
            outputs = model.val_step(batch)
        getattr(hook, f'after_{mode}_iter')(runner, i, batch, outputs)
        all_outputs.append(outputs)
    getattr(hook, f'after_{mode}_epoch')(runner, {})
    return all_outputs


def ocr_head(model):
    return model.decode_head[-1]


def tile(picture, row, col, shape=ORI):
    return picture[row * shape[0]:(row + 1) * shape[0],
                   col * shape[1]:(col + 1) * shape[1]]


def test_registered():
    hook = HOOKS.build(dict(type='RegionVisualizationHook', num_images=2))
    assert isinstance(hook, RegionVisualizationHook)
    assert hook.num_images == 2 and hook.top_k == 3 and hook.region is None


@pytest.mark.parametrize('mode', ['val', 'test'])
def test_draws_first_n_images_then_stops_recording(model, batches, mode,
                                                   monkeypatch):
    runner = mock_runner(model)
    if mode == 'test':  # a test run has no train loop: runner.iter unread
        type(runner).iter = PropertyMock(side_effect=AssertionError)
    hook = RegionVisualizationHook(num_images=3)
    recording = []  # per batch: was the head recording during it?
    head = ocr_head(model)
    original = head.forward

    def spy(*args, **kwargs):
        recording.append(head.record_maps)
        return original(*args, **kwargs)

    monkeypatch.setattr(head, 'forward', spy)
    run_epoch(hook, runner, model, batches, mode)

    calls = runner.visualizer.add_image.call_args_list
    assert len(calls) == 3  # 2 + 1 of 6 images
    assert recording == [True, True, False]  # off after the 3rd image
    names = [c.args[0] for c in calls]
    assert names == [
        f'{mode}_regions_img_00', f'{mode}_regions_img_01',
        f'{mode}_regions_img_10'
    ]
    for c in calls:
        picture = c.args[1]
        assert c.args[2] == (7 if mode == 'val' else 0)  # the step
        # 2 rows; max(3, top_k + 1) = 4 tiles of ORI size a row.
        assert picture.shape == (2 * ORI[0], 4 * ORI[1], 3)
        assert picture.dtype == np.uint8
        assert picture.std() > 10  # not blank
        assert tile(picture, 0, 3).std() < 1  # the unused tile
    # Nothing kept after the epoch.
    assert head.recorded_maps is None
    assert head.record_maps is False
    assert hook._head is None and hook._model is None


def test_tiles_are_the_image_and_drawn_by_the_visualizer(model, batches):
    """Row 1 holds the image and the label maps in the dataset palette
    (``SegLocalVisualizer``); row 2 the heat maps over the image."""
    runner = mock_runner(model)
    runner.visualizer.alpha = 1.0  # opaque label maps
    batch = dict(
        inputs=batches[0]['inputs'][:1],
        data_samples=[batches[0]['data_samples'][0].clone()])
    batch['data_samples'][0].gt_sem_seg.data[:] = 4  # 'car' everywhere
    run_epoch(RegionVisualizationHook(num_images=1), runner, model, [batch])
    picture = runner.visualizer.add_image.call_args.args[1]
    image = cv2.imread(batch['data_samples'][0].img_path)[..., ::-1]
    # Below the tile labels (drawn at the top left): exact pixels.
    bottom = slice(ORI[0] // 2, ORI[0])
    np.testing.assert_array_equal(tile(picture, 0, 0)[bottom], image[bottom])
    gt = tile(picture, 0, 1)[bottom]
    assert (gt == PALETTE[4]).all(-1).mean() > 0.9  # car's colour
    for col in range(4):  # heat maps over the image
        heat = tile(picture, 1, col)[bottom].astype(int)
        assert np.abs(heat - image[bottom]).mean() > 10


def test_heat_maps_are_the_gather_weights_and_the_attention(batches):
    """The heat maps drawn are the head's gather weights (a softmax over
    positions at ``gather_scale``) of the named classes and the attention to
    ``region`` upsampled to the features (pooled query), each brought to the
    image."""
    cfg = tiny_ocrnet_cfg()
    cfg.decode_head[1].update(gather_scale=2.0, query_pool=2)
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    block = ocr_head(model).object_context_block
    for project in (block.query_project, block.key_project):
        project[-1].conv.weight.data *= 30  # an attention that varies
    runner = mock_runner(model)
    texts = spy_texts(runner)
    drawn = []
    vis = runner.visualizer
    original = vis.draw_featmap
    vis.draw_featmap = lambda m, *args, **kwargs: drawn.append(m[0]) or (
        original(m, *args, **kwargs))
    hook = RegionVisualizationHook(num_images=1, top_k=2, region='tree')
    outputs = run_epoch(hook, runner, model, batches[:1])
    head = ocr_head(model)
    head.record_maps = True  # the same forward pass, recorded here
    with torch.no_grad():
        model.val_step(batches[0])
    soft, attention = (head.recorded_maps[k][0]
                       for k in ('soft_regions', 'attention'))
    head.record_maps = False
    assert attention.shape[1:] == (4, 8) and soft.shape[1:] == (8, 16)
    top = [CLASSES.index(text[len('region '):]) for text in texts[0][3:5]]
    weights = (2.0 * soft[top].flatten(1)).softmax(1).view(2, 8, 16)
    attended = torch.nn.functional.interpolate(
        attention[None, 2:3], (8, 16), mode='bilinear')[0]
    expected = rvh.to_original(model, head, torch.cat([weights, attended]),
                               outputs[0][0].metainfo, ORI)
    # Relative: the maps are small (gather weights ~1 / (8 * 16)).
    torch.testing.assert_close(torch.stack(drawn), expected, rtol=1e-5,
                               atol=1e-9)


def test_every_epoch_starts_counting_again(model, batches):
    runner = mock_runner(model)
    hook = RegionVisualizationHook(num_images=1)
    run_epoch(hook, runner, model, batches)
    run_epoch(hook, runner, model, batches)
    assert runner.visualizer.add_image.call_count == 2


def test_fewer_images_than_num_images(model, batches):
    runner = mock_runner(model)
    hook = RegionVisualizationHook(num_images=100)
    run_epoch(hook, runner, model, batches[:1])
    assert runner.visualizer.add_image.call_count == 2
    assert ocr_head(model).record_maps is False  # after_val_epoch
    assert ocr_head(model).recorded_maps is None


def test_maps_are_brought_to_the_image_as_the_logits(model, batches):
    """``to_original`` undoes the padding (32x48 padded to 32x64) and the
    resize as MMSeg does: on the last-stage logits it gives the prediction.
    """
    batch = batches[0]
    with torch.no_grad():
        outputs = model.val_step(batch)
        data = model.data_preprocessor(batch, False)
        assert data['inputs'].shape[2:] == (32, 64)  # padded
        logits = model._forward(data['inputs'])  # [2, K, 8, 16]
    for i, sample in enumerate(outputs):
        assert sample.metainfo['img_padding_size'] == (0, 16, 0, 0)
        mapped = rvh.to_original(model, ocr_head(model), logits[i],
                                 sample.metainfo, ORI)
        torch.testing.assert_close(mapped, sample.seg_logits.data)
        assert torch.equal(mapped.argmax(0), sample.pred_sem_seg.data[0])


@pytest.mark.parametrize('direction, flipped', [('horizontal', (0, -1)),
                                                ('vertical', (-1, 0))])
def test_flip_is_undone(model, direction, flipped):
    maps = torch.zeros(2, 4, 6)
    maps[:, 0, 0] = 1  # top left corner
    meta = dict(img_shape=(4, 6), flip=True, flip_direction=direction)
    out = rvh.to_original(model, ocr_head(model), maps, meta, (4, 6))
    assert out.shape == (2, 4, 6)
    assert out[:, flipped[0], flipped[1]].eq(1).all() and out.sum() == 2


def test_labels_name_top_k_classes_and_region(model, batches):
    runner = mock_runner(model)
    texts = spy_texts(runner)
    hook = RegionVisualizationHook(num_images=1, top_k=2, region='sky')
    outputs = run_epoch(hook, runner, model, batches[:1])
    texts = texts[0]
    assert texts[:3] == ['image', 'ground truth', 'prediction']
    pred = outputs[0][0].pred_sem_seg.data.flatten()
    area = torch.bincount(pred, minlength=K)
    # The two largest predicted classes, largest first.
    order = sorted(range(K), key=lambda k: -area[k])
    if area[order[1]] > area[order[2]]:  # no tie to break
        assert texts[3:5] == [
            f'region {CLASSES[order[0]]}', f'region {CLASSES[order[1]]}'
        ]
    assert texts[5].startswith('attention to sky (max ')
    assert len(texts) == 6
    picture = runner.visualizer.add_image.call_args.args[1]
    assert picture.shape == (2 * ORI[0], 3 * ORI[1], 3)  # max(3, 2 + 1)


def test_default_region_is_the_largest_predicted_class(model, batches):
    runner = mock_runner(model)
    texts = spy_texts(runner)
    outputs = run_epoch(
        RegionVisualizationHook(num_images=1, top_k=2), runner, model,
        batches[:1])
    region_label = texts[0][3]  # the first of the top_k regions
    assert texts[0][5].startswith(f'attention to {region_label[7:]} (max ')
    pred = outputs[0][0].pred_sem_seg.data.flatten()
    area = torch.bincount(pred, minlength=K)
    assert area[CLASSES.index(region_label[7:])] == area.max()


def test_region_by_id_and_bad_regions(model):
    runner = mock_runner(model)
    hook = RegionVisualizationHook(region=3)
    hook.before_run(runner)
    hook.before_val_epoch(runner)
    assert hook._region_id(CLASSES) == 3
    hook.after_val_epoch(runner)

    with pytest.raises(
            ValueError,
            match=r"region: expected a class id in \[0, 5\) or one of the "
            r"class names \('road', 'wall', 'tree', 'sky', 'car'\), got "
            "'person'"):
        RegionVisualizationHook(region='person').before_val_epoch(runner)
    with pytest.raises(ValueError, match=r'in \[0, 5\).*got 5'):
        RegionVisualizationHook(region=5).before_run(runner)
    assert ocr_head(model).record_maps is False


def test_dataset_meta_must_match_the_head(model):
    runner = mock_runner(model)
    runner.visualizer.dataset_meta = dict(
        classes=CLASSES[:4], palette=PALETTE[:4])
    with pytest.raises(
            ValueError, match="expected 5 classes \\(the head's num_classes"
            "\\) in the visualizer's dataset_meta, found 4"):
        RegionVisualizationHook().before_run(runner)


def test_bad_arguments():
    with pytest.raises(ValueError, match='top_k: expected an int >= 1, got 0'):
        RegionVisualizationHook(top_k=0)
    with pytest.raises(ValueError, match='num_images: expected an int >= 0'):
        RegionVisualizationHook(num_images=-1)
    with pytest.raises(TypeError, match='region: expected None, a class id '
                       'or a class name, got list'):
        RegionVisualizationHook(region=[1])
    with pytest.raises(ValueError, match='tile_size: expected None or an int'):
        RegionVisualizationHook(tile_size=8)


def test_head_that_is_not_ocr_plus_head():
    torch.manual_seed(0)
    runner = mock_runner(MODELS.build(tiny_ocrnet_cfg('FCNHead')))
    with pytest.raises(
            TypeError,
            match=r'expected an OCRPlusHead at decode_head\[-1\], found '
            'FCNHead'):
        RegionVisualizationHook().before_run(runner)
    with pytest.raises(IndexError, match='index 2 is out of range'):
        RegionVisualizationHook(head_index=2).before_run(runner)


def test_slide_inference_warns_once_and_draws_nothing(batches, monkeypatch):
    messages = []
    monkeypatch.setattr(rvh, 'print_log',
                        lambda message, **kwargs: messages.append(message))
    torch.manual_seed(0)
    model = MODELS.build(
        tiny_ocrnet_cfg(mode='slide', crop_size=(32, 32),
                        stride=(16, 16))).eval()
    runner = mock_runner(model)
    hook = RegionVisualizationHook(num_images=2)
    run_epoch(hook, runner, model, batches[:1])
    run_epoch(hook, runner, model, batches[:1])
    assert len(messages) == 1, messages  # once
    assert "test_cfg.mode='slide'" in messages[0]
    assert runner.visualizer.add_image.call_count == 0
    assert ocr_head(model).record_maps is False


def test_tta_model_warns_once_and_draws_nothing(monkeypatch):
    messages = []
    monkeypatch.setattr(rvh, 'print_log',
                        lambda message, **kwargs: messages.append(message))
    runner = mock_runner(Mock(spec=BaseTTAModel))
    hook = RegionVisualizationHook()
    hook.before_run(runner)
    hook.before_test_epoch(runner)
    hook.after_test_iter(runner, 0, {}, [SegDataSample()])
    hook.before_test_epoch(runner)
    assert len(messages) == 1 and 'test-time augmentation' in messages[0]
    assert runner.visualizer.add_image.call_count == 0


def test_num_images_zero_records_nothing(model, batches):
    runner = mock_runner(model)
    hook = RegionVisualizationHook(num_images=0)
    hook.before_val_epoch(runner)
    assert ocr_head(model).record_maps is False
    hook.after_val_iter(runner, 0, batches[0], [SegDataSample()] * 2)
    assert runner.visualizer.add_image.call_count == 0


def test_image_from_the_batch_without_img_path(model, batches):
    batch = dict(
        inputs=batches[0]['inputs'],
        data_samples=[s.clone() for s in batches[0]['data_samples']])
    for sample in batch['data_samples']:
        sample.set_metainfo(dict(img_path=None))
    runner = mock_runner(model)
    run_epoch(RegionVisualizationHook(num_images=2), runner, model, [batch])
    calls = runner.visualizer.add_image.call_args_list
    assert [c.args[0] for c in calls] == ['val_regions_0', 'val_regions_1']
    picture = calls[0].args[1]
    assert picture.shape == (2 * ORI[0], 4 * ORI[1], 3)
    # The network input (BGR, 32x48) resized back to the image (RGB).
    image = cv2.imread(batches[0]['data_samples'][0].img_path)[..., ::-1]
    bottom = slice(ORI[0] // 2, ORI[0])
    difference = tile(picture, 0, 0)[bottom].astype(int) - image[bottom]
    assert np.abs(difference).mean() < 40  # resampled, same colours


@pytest.mark.parametrize('tile_size, tile_shape', [(18, (12, 18)),
                                                   (20, (13, 20)),
                                                   (36, ORI), (100, ORI),
                                                   (None, ORI)])
def test_tile_size_scales_large_images_down(model, batches, tile_size,
                                            tile_shape):
    runner = mock_runner(model)
    run_epoch(RegionVisualizationHook(num_images=1, tile_size=tile_size),
              runner, model, batches[:1])
    picture = runner.visualizer.add_image.call_args.args[1]
    assert picture.shape == (2 * tile_shape[0], 4 * tile_shape[1], 3)


def test_training_iterations_are_untouched(model, batches):
    """The train entry points record and draw nothing, even right after a
    validation epoch began."""
    runner = mock_runner(model)
    hook = RegionVisualizationHook()
    hook.before_run(runner)
    hook.before_train_epoch(runner)
    assert ocr_head(model).record_maps is False
    hook.before_train_iter(runner, 0, batches[0])
    hook.after_train_iter(runner, 0, batches[0], {})
    hook.after_train_epoch(runner)
    assert ocr_head(model).record_maps is False
    assert runner.visualizer.add_image.call_count == 0

    hook.before_val_epoch(runner)  # validation inside training
    hook.after_train_iter(runner, 0, batches[0], {})
    assert ocr_head(model).record_maps is True
    hook.after_val_epoch(runner)
    assert runner.visualizer.add_image.call_count == 0
