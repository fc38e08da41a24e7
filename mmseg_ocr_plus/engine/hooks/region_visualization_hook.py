"""Pictures of OCRNet's soft object regions and object attention.

OCRNet (Yuan et al., "Object-Contextual Representations for Semantic
Segmentation", https://arxiv.org/abs/1909.11065) pools pixel features into
one representation per class with soft object regions (the aux head's
logits, a softmax over positions), then lets every pixel attend to those K
regions. :class:`RegionVisualizationHook` draws both for the first images of
each validation and test epoch, from the tensors the last
:class:`~mmseg_ocr_plus.models.decode_heads.OCRPlusHead` kept during the
ordinary forward pass (its ``record_maps`` switch): no second forward pass.

Shape shorthand in this module:
    K: classes, H x W: size of the head's features, h x w: size of the
    attention (``H x W`` unless the head pools its query), th x tw: size of
    one tile of the picture (the original image size, scaled down to
    ``tile_size``).
"""
import logging
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import mmcv
import mmengine.fileio as fileio
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import Runner
from mmseg.registry import HOOKS
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from ...models.decode_heads import OCRPlusHead

BLANK = 48  # grey level of unused tiles


@HOOKS.register_module()
class RegionVisualizationHook(Hook):
    """Draw OCRNet's soft object regions and object attention.

    For the first ``num_images`` images of every validation and test epoch
    (counted across batches, on the main process), writes one RGB picture
    through ``runner.visualizer.add_image`` (so to every configured backend:
    ``LocalVisBackend`` writes ``vis_data/vis_image/<mode>_regions_<image
    name>_<iter>.png``, ``TensorboardVisBackend`` an image summary). The
    picture is a grid of tiles, each the original image size (scaled down to
    ``tile_size``):

    - row 1: the image, the ground truth and the prediction (in the
      dataset's palette);
    - row 2: the soft object regions of the ``top_k`` classes with the
      largest predicted area (ties broken by the aux head's total class
      probability), i.e. the spatial-gather weights (a softmax over
      positions) scaled to their maximum; then the attention of every pixel
      to the region of class ``region`` (the ``region`` row of the
      attention, a softmax over the K regions), scaled to its maximum,
      which the label gives. Both as heat maps over the image.

    The maps are brought to the original image as MMSeg brings the logits
    (resized to the padded input, padding cropped, flip undone, resized to
    ``ori_shape``), so they align with the image, ground truth and
    prediction. After the first ``num_images`` images the head stops
    recording and no tensor is kept.

    Slide inference (``test_cfg.mode='slide'``) and test-time augmentation
    run the head once per window or augmentation; the hook then logs a
    warning once and draws nothing.

    Args:
        num_images (int): Images drawn per validation or test epoch.
            Defaults to 4.
        top_k (int): Soft regions drawn, of the classes with the largest
            predicted area. Defaults to 3.
        region (int | str, optional): The class (id or name) whose attention
            map is drawn. Defaults to None: in each image, the class with
            the largest predicted area.
        head_index (int): Index of the ``OCRPlusHead`` in the segmentor's
            ``decode_head``. Defaults to -1 (the last stage).
        tile_size (int, optional): Longest side of a tile in pixels; larger
            images are scaled down. None keeps the original size. Defaults
            to 512.
        alpha (float): Opacity of the colours and heat maps over the image.
            Defaults to 0.6.
        backend_args (dict, optional): Arguments of the file backend that
            reads the images, as in ``SegVisualizationHook``. Defaults to
            None.
    """

    priority = 'NORMAL'

    def __init__(self,
                 num_images: int = 4,
                 top_k: int = 3,
                 region: Optional[Union[int, str]] = None,
                 head_index: int = -1,
                 tile_size: Optional[int] = 512,
                 alpha: float = 0.6,
                 backend_args: Optional[dict] = None) -> None:
        if not (isinstance(num_images, int) and num_images >= 0):
            raise ValueError(
                f'num_images: expected an int >= 0, got {num_images!r}')
        if not (isinstance(top_k, int) and top_k >= 1):
            raise ValueError(f'top_k: expected an int >= 1, got {top_k!r}')
        if not (region is None or isinstance(region, (int, str))):
            raise TypeError('region: expected None, a class id or a class '
                            f'name, got {type(region).__name__}')
        if tile_size is not None and not (isinstance(tile_size, int)
                                          and tile_size >= 16):
            raise ValueError(
                f'tile_size: expected None or an int >= 16, got {tile_size!r}')
        if not 0 <= alpha <= 1:
            raise ValueError(f'alpha: expected a float in [0, 1], got {alpha}')
        self.num_images = num_images
        self.top_k = top_k
        self.region = region
        self.head_index = head_index
        self.tile_size = tile_size
        self.alpha = alpha
        self.backend_args = backend_args.copy() if backend_args else None
        self._head: Optional[OCRPlusHead] = None  # set while recording
        self._count = 0  # images drawn in this epoch
        self._classes: Tuple[str, ...] = ()
        self._palette = np.zeros((0, 3), np.uint8)
        self._warned: set = set()

    # Hook entry points.

    def before_run(self, runner: Runner) -> None:
        """Fail fast on a model without an ``OCRPlusHead`` at
        ``head_index`` or an integer ``region`` out of range."""
        model = self._segmentor(runner)
        if model is not None:
            head = self.find_head(model)
            if isinstance(self.region, int):
                self._region_id(tuple(map(str, range(head.num_classes))))

    def before_val_epoch(self, runner: Runner) -> None:
        """Start recording in the head."""
        self._start(runner, 'val')

    def before_test_epoch(self, runner: Runner) -> None:
        """Start recording in the head."""
        self._start(runner, 'test')

    def after_val_iter(self,
                       runner: Runner,
                       batch_idx: int,
                       data_batch: Optional[dict] = None,
                       outputs: Optional[Sequence[SegDataSample]] = None
                       ) -> None:
        """Draw the images of this batch that are among the first
        ``num_images``."""
        self._draw_batch(runner, data_batch, outputs, 'val')

    def after_test_iter(self,
                        runner: Runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence[SegDataSample]] = None
                        ) -> None:
        """Draw the images of this batch that are among the first
        ``num_images``."""
        self._draw_batch(runner, data_batch, outputs, 'test')

    def after_val_epoch(self,
                        runner: Runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        """Stop recording (the epoch had fewer images than
        ``num_images``)."""
        self._stop()

    def after_test_epoch(self,
                         runner: Runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        """Stop recording (the epoch had fewer images than
        ``num_images``)."""
        self._stop()

    # Recording.

    def find_head(self, model: nn.Module) -> OCRPlusHead:
        """The ``OCRPlusHead`` at ``head_index`` of a segmentor.

        Args:
            model (nn.Module): The segmentor, unwrapped.

        Returns:
            OCRPlusHead: The head.

        Raises:
            TypeError: If the model has no decode head or the head at
                ``head_index`` is not an ``OCRPlusHead``.
            IndexError: If ``head_index`` is out of range.
        """
        heads = getattr(model, 'decode_head', None)
        if heads is None:
            raise TypeError('RegionVisualizationHook: expected a segmentor '
                            'with a decode_head, found '
                            f'{type(model).__name__}')
        if not isinstance(heads, nn.ModuleList):
            heads = [heads]
        if not -len(heads) <= self.head_index < len(heads):
            raise IndexError(
                f'RegionVisualizationHook: head_index={self.head_index}: '
                f'expected an index into the {len(heads)} decode head(s) of '
                f'{type(model).__name__}')
        head = heads[self.head_index]
        if not isinstance(head, OCRPlusHead):
            raise TypeError(
                f'RegionVisualizationHook: expected an OCRPlusHead at '
                f'decode_head[{self.head_index}], found '
                f'{type(head).__name__}')
        return head

    def _segmentor(self, runner: Runner) -> Optional[nn.Module]:
        """The unwrapped segmentor, or None (with a warning, once) for a
        test-time augmentation model."""
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        if isinstance(model, BaseTTAModel):
            self._warn_once(
                'tta', 'RegionVisualizationHook draws nothing under '
                'test-time augmentation: the head runs once per '
                'augmentation and keeps the maps of the last one only.')
            return None
        return model

    def _start(self, runner: Runner, mode: str) -> None:
        """Resolve the head, classes and region, and switch recording on."""
        self._stop()
        self._count = 0
        if self.num_images == 0 or not is_main_process():
            return
        model = self._segmentor(runner)
        if model is None:
            return
        test_cfg = getattr(model, 'test_cfg', None) or {}
        if test_cfg.get('mode', 'whole') != 'whole':
            self._warn_once(
                'slide', 'RegionVisualizationHook draws nothing with '
                f"test_cfg.mode={test_cfg.get('mode')!r}: the head runs "
                "once per window and keeps the last window's maps only; "
                "use mode='whole' to draw the regions.")
            return
        head = self.find_head(model)
        meta = self._dataset_meta(runner, mode)
        classes = meta.get('classes') or tuple(
            str(k) for k in range(head.num_classes))
        if len(classes) != head.num_classes:
            raise ValueError(
                f'RegionVisualizationHook: expected {head.num_classes} '
                f'dataset classes (the head\'s num_classes), found '
                f'{len(classes)}: {tuple(classes)}')
        self._classes = tuple(classes)
        self._palette = _palette(meta.get('palette'), len(classes))
        self._region_id(self._classes)  # raise early on a bad region
        head.record_maps = True
        self._head = head

    def _stop(self) -> None:
        """Switch recording off; the head drops its maps."""
        if self._head is not None:
            self._head.record_maps = False
            self._head = None

    def _draw_batch(self, runner: Runner, data_batch: Optional[dict],
                    outputs: Optional[Sequence[SegDataSample]],
                    mode: str) -> None:
        """Draw this batch's images while fewer than ``num_images`` are
        drawn; stop recording when they are."""
        head = self._head
        if head is None:
            return
        maps, head.recorded_maps = head.recorded_maps, None
        if maps is None or not outputs:
            return
        batch_size = maps['attention'].shape[0]
        if batch_size != len(outputs):
            self._warn_once(
                'batch', 'RegionVisualizationHook: expected maps of '
                f'{len(outputs)} images (the batch), found {batch_size}; '
                'nothing drawn (does the model run the head more than '
                'once per batch?)')
            self._stop()
            return
        for i, sample in enumerate(outputs):
            if self._count >= self.num_images:
                break
            image = self._read_image(sample, data_batch, i)
            picture = self.draw(image, sample, maps['soft_regions'][i],
                                maps['attention'][i], head)
            name = sample.metainfo.get('img_path')
            name = (
                osp.splitext(osp.basename(name))[0]
                if name else str(self._count))
            # runner.iter would build the train loop (and its dataset) in
            # a test-only run; MMEngine's LoggerHook avoids it the same way.
            step = 0 if isinstance(runner._train_loop, dict) else runner.iter
            runner.visualizer.add_image(
                f'{mode}_regions_{name}', picture, step=step)
            self._count += 1
        if self._count >= self.num_images:
            self._stop()

    # Drawing.

    def draw(self, image: np.ndarray, sample: SegDataSample,
             soft_regions: Tensor, attention: Tensor,
             head: OCRPlusHead) -> np.ndarray:
        """Compose the picture of one image.

        Args:
            image (np.ndarray): ``[Ho, Wo, 3]`` uint8 RGB original image.
            sample (SegDataSample): Its output, with ``pred_sem_seg``,
                optionally ``gt_sem_seg``, and the image metainfo.
            soft_regions (Tensor): ``[K, H, W]`` soft-region logits.
            attention (Tensor): ``[K, h, w]`` object attention.
            head (OCRPlusHead): The head that recorded them.

        Returns:
            np.ndarray: ``[2 * th, cols * tw, 3]`` uint8 RGB picture,
            ``cols = max(3, min(top_k, K) + 1)``.
        """
        tile_h, tile_w = self._tile_shape(sample.metainfo['ori_shape'])
        image = cv2.resize(image, (tile_w, tile_h),
                           interpolation=cv2.INTER_AREA)
        pred = sample.pred_sem_seg.data[0].cpu()  # [Ho, Wo]
        gt = (
            sample.gt_sem_seg.data[0].cpu()
            if 'gt_sem_seg' in sample else None)
        num_classes = soft_regions.shape[0]
        soft_regions = soft_regions.float()
        area = torch.bincount(
            pred.flatten().clamp(0, num_classes), minlength=num_classes + 1)
        area = area[:num_classes].tolist()
        mass = soft_regions.softmax(0).sum((1, 2)).tolist()
        top = sorted(
            range(num_classes), key=lambda k: (-area[k], -mass[k], k))
        top = top[:self.top_k]
        region = self._region_id(self._classes)
        if region is None:
            region = top[0]

        # Gather weights: a softmax over positions (the head's temperature).
        H, W = soft_regions.shape[1:]
        scale = head.spatial_gather_module.scale
        weights = (soft_regions[top].flatten(1) * scale).softmax(1)
        weights = weights.view(-1, H, W)  # [k, H, W]
        # The attention upsampled to the features, as the head's context.
        attended = F.interpolate(
            attention[None, region:region + 1].float(), (H, W),
            mode='bilinear',
            align_corners=head.align_corners)[0]  # [1, H, W]
        maps = torch.cat([weights, attended.to(weights.device)])
        maps = _to_original(maps, sample.metainfo, (tile_h, tile_w),
                            head.align_corners)  # [k + 1, th, tw]
        peaks = maps.flatten(1).amax(1).clamp_min(1e-12)
        scaled = (maps / peaks[:, None, None]).clamp(0, 1).cpu().numpy()

        names = self._classes
        row1 = [
            _label(image, 'image'),
            _label(self._colour(image, gt, tile_h, tile_w), 'ground truth'
                   ) if gt is not None else _label(
                       np.full_like(image, BLANK), 'no ground truth'),
            _label(self._colour(image, pred, tile_h, tile_w), 'prediction'),
        ]
        row2 = [
            _label(self._heat(image, m), f'region {names[k]}')
            for m, k in zip(scaled[:-1], top)
        ]
        attention_peak = float(peaks[-1])
        row2.append(
            _label(
                self._heat(image, scaled[-1]),
                f'attention to {names[region]} (max {attention_peak:.2f})'))
        cols = max(len(row1), len(row2))
        blank = np.full_like(image, BLANK)
        rows = [
            np.concatenate(row + [blank] * (cols - len(row)), axis=1)
            for row in (row1, row2)
        ]
        return np.ascontiguousarray(np.concatenate(rows, axis=0))

    def _tile_shape(self, ori_shape: Sequence[int]) -> Tuple[int, int]:
        """``(th, tw)``: the original size scaled to ``tile_size``."""
        ori_h, ori_w = ori_shape[:2]
        if self.tile_size is None or max(ori_h, ori_w) <= self.tile_size:
            return int(ori_h), int(ori_w)
        ratio = self.tile_size / max(ori_h, ori_w)
        return max(1, round(ori_h * ratio)), max(1, round(ori_w * ratio))

    def _colour(self, image: np.ndarray, labels: Tensor, tile_h: int,
                tile_w: int) -> np.ndarray:
        """A ``[Ho, Wo]`` label map in the palette over the image; labels
        outside the classes (ignore index) leave the image."""
        labels = cv2.resize(
            labels.numpy().astype(np.int32), (tile_w, tile_h),
            interpolation=cv2.INTER_NEAREST)  # [th, tw]
        valid = (labels >= 0) & (labels < len(self._palette))
        colour = self._palette[np.where(valid, labels, 0)]
        mixed = self.alpha * colour + (1 - self.alpha) * image
        return np.where(valid[..., None], mixed, image).astype(np.uint8)

    def _heat(self, image: np.ndarray, values: np.ndarray) -> np.ndarray:
        """A ``[th, tw]`` map in [0, 1] as a jet heat map over the image."""
        heat = cv2.applyColorMap(
            np.round(values * 255).astype(np.uint8), cv2.COLORMAP_JET)
        heat = heat[..., ::-1]  # BGR -> RGB
        return (self.alpha * heat + (1 - self.alpha) * image).astype(np.uint8)

    # Inputs.

    def _region_id(self, classes: Sequence[str]) -> Optional[int]:
        """``region`` as a class id (None for the default).

        Raises:
            ValueError: If ``region`` is not a class id or name.
        """
        if self.region is None:
            return None
        if isinstance(self.region, str):
            if self.region in classes:
                return list(classes).index(self.region)
        elif 0 <= self.region < len(classes):
            return self.region
        raise ValueError(
            'RegionVisualizationHook: region: expected a class id in '
            f'[0, {len(classes)}) or one of the class names '
            f'{tuple(classes)}, got {self.region!r}')

    def _read_image(self, sample: SegDataSample, data_batch: Optional[dict],
                    index: int) -> np.ndarray:
        """``[Ho, Wo, 3]`` uint8 RGB: the file at ``img_path``, else the
        network input of the batch resized back."""
        ori_h, ori_w = sample.metainfo['ori_shape'][:2]
        img_path = sample.metainfo.get('img_path')
        if img_path is not None:
            image = mmcv.imfrombytes(
                fileio.get(img_path, backend_args=self.backend_args),
                channel_order='rgb')
        else:  # [3, h, w] uint8 BGR as the pipeline packed it
            image = data_batch['inputs'][index].permute(1, 2, 0)
            image = image.cpu().numpy()[..., ::-1]
        if image.shape[:2] != (ori_h, ori_w):
            image = cv2.resize(
                np.ascontiguousarray(image), (ori_w, ori_h),
                interpolation=cv2.INTER_LINEAR)
        return image

    @staticmethod
    def _dataset_meta(runner: Runner, mode: str) -> dict:
        """The metainfo of the dataset this epoch runs on."""
        loop = runner.val_loop if mode == 'val' else runner.test_loop
        dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
        meta = getattr(dataset, 'metainfo', None)
        if not isinstance(meta, dict):
            meta = getattr(runner.visualizer, 'dataset_meta', None)
        return meta if isinstance(meta, dict) else {}

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            print_log(message, logger='current', level=logging.WARNING)


def _to_original(maps: Tensor, meta: dict, size: Tuple[int, int],
                 align_corners: bool) -> Tensor:
    """Bring feature maps to the original image as MMSeg brings logits.

    As ``BaseDecodeHead.predict_by_feat`` and
    ``BaseSegmentor.postprocess_result``: resize to the padded input, crop
    the padding, undo a flip, resize (to ``size``, the original size or the
    tile size).

    Args:
        maps (Tensor): ``[M, H, W]`` maps over the network input.
        meta (dict): The image's metainfo.
        size (tuple[int, int]): ``(th, tw)`` output size.
        align_corners (bool): As the head's.

    Returns:
        Tensor: ``[M, th, tw]``.
    """
    if 'pad_shape' in meta:
        input_shape = tuple(meta['pad_shape'][:2])
    else:
        input_shape = tuple(meta['img_shape'][:2])
    maps = F.interpolate(
        maps[None], input_shape, mode='bilinear',
        align_corners=align_corners)  # [1, M, Hi, Wi]
    if 'img_padding_size' in meta:
        left, right, top, bottom = meta['img_padding_size']
    else:
        left, right, top, bottom = meta.get('padding_size', [0] * 4)
    H, W = maps.shape[2:]
    maps = maps[:, :, top:H - bottom, left:W - right]
    if meta.get('flip', False):
        dims = (3, ) if meta.get('flip_direction') == 'horizontal' else (2, )
        maps = maps.flip(dims=dims)
    return F.interpolate(
        maps, size, mode='bilinear', align_corners=align_corners)[0]


def _palette(palette: Optional[Sequence], num_classes: int) -> np.ndarray:
    """``[K, 3]`` uint8 RGB colours: the dataset's, else fixed random."""
    if palette is not None and len(palette) >= num_classes:
        return np.asarray(palette, np.uint8)[:num_classes].reshape(-1, 3)
    rng = np.random.RandomState(42)
    return rng.randint(0, 256, (num_classes, 3)).astype(np.uint8)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    """The tile with ``text`` in white on black at its top left, shrunk to
    fit its width."""
    tile = np.ascontiguousarray(tile)
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.3, min(tile.shape[:2]) / 400)
    (text_w, text_h), base = cv2.getTextSize(text, font, scale, 1)
    while text_w > tile.shape[1] - 4 and scale > 0.2:
        scale *= 0.9
        (text_w, text_h), base = cv2.getTextSize(text, font, scale, 1)
    cv2.rectangle(tile, (0, 0), (text_w + 4, text_h + base + 4), (0, 0, 0),
                  -1)
    cv2.putText(tile, text, (2, text_h + 2), font, scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    return tile

