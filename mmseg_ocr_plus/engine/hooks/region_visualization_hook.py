"""Pictures of OCRNet's soft object regions and object attention.

Shape shorthand in this module:
    K: classes, H x W: size of the head's features, h x w: size of the
    attention, th x tw: size of a tile (the original size, scaled down).
"""
import logging
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import cv2
import mmcv
import mmengine.fileio as fileio
import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.models.utils import resize
from mmseg.registry import HOOKS
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer
from torch import Tensor, nn

from ...models.decode_heads import OCRPlusHead

BLANK = 48  # grey level of unused tiles


@HOOKS.register_module()
class RegionVisualizationHook(Hook):
    """Draw OCRNet's soft object regions and object attention.

    OCRNet (https://arxiv.org/abs/1909.11065) pools pixel features into one
    vector per class with soft regions (the aux head's logits, a softmax over
    positions), then every pixel attends to those K vectors. For the first
    ``num_images`` images of each validation and test epoch the head keeps
    both (``OCRPlusHead.record_maps``) and the hook sends one picture per
    image to ``runner.visualizer.add_image`` (step ``runner.iter`` in
    validation, 0 in test): tiles of the image size (at most ``tile_size``)
    of the image, the ground truth and the prediction (in the visualizer's
    ``dataset_meta`` palette), then heat maps of the gather weights of the
    ``top_k`` classes with the largest predicted area (ties broken by the
    aux head's total probability) and of the attention of every pixel to
    the region of class ``region``, brought to the image as the logits are.
    Slide inference and TTA run the head more than once per image: the hook
    then warns once and draws nothing.

    Args:
        num_images (int): Images drawn per epoch. Defaults to 4.
        top_k (int): Soft regions drawn. Defaults to 3.
        region (int | str, optional): Class (id or name) whose attention is
            drawn. Defaults to None: the largest predicted class.
        head_index (int): Index of the ``OCRPlusHead`` in ``decode_head``.
            Defaults to -1.
        tile_size (int, optional): Longest side of a tile; None keeps the
            image size. Defaults to 512.
        alpha (float): Opacity of the heat maps. Defaults to 0.6.
        backend_args (dict, optional): File backend arguments to read the
            images, as in ``SegVisualizationHook``. Defaults to None.
    """

    def __init__(self, num_images: int = 4, top_k: int = 3,
                 region: Optional[Union[int, str]] = None,
                 head_index: int = -1, tile_size: Optional[int] = 512,
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
        if not (tile_size is None or isinstance(tile_size, int)
                and tile_size >= 16):
            raise ValueError(
                f'tile_size: expected None or an int >= 16, got {tile_size!r}')
        self.num_images, self.top_k, self.region = num_images, top_k, region
        self.head_index, self.tile_size = head_index, tile_size
        self.alpha = alpha
        self.backend_args = backend_args.copy() if backend_args else None
        self._model: Optional[nn.Module] = None  # the segmentor, recording
        self._head: Optional[OCRPlusHead] = None  # its head, recording
        self._count = 0  # images drawn in this epoch
        self._warned: set = set()

    def before_run(self, runner: Runner) -> None:
        """Fail fast on a bad head, region or ``dataset_meta``."""
        if self.num_images > 0:
            self._resolve(runner)

    def _before_epoch(self, runner: Runner, mode: str = 'train') -> None:
        """Switch recording on for a validation or test epoch."""
        self._after_epoch(runner, mode)
        self._count = 0
        if mode != 'train' and self.num_images > 0 and is_main_process():
            self._model, self._head = self._resolve(runner) or (None, None)
            if self._head is not None:
                self._head.record_maps = True

    def _after_iter(self, runner: Runner, batch_idx: int,
                    data_batch: Optional[dict] = None,
                    outputs: Optional[Sequence[SegDataSample]] = None,
                    mode: str = 'train') -> None:
        """Draw the images of this batch among the first ``num_images``."""
        if mode == 'train' or self._head is None:
            return
        maps, self._head.recorded_maps = self._head.recorded_maps, None
        for i, sample in enumerate(outputs[:self.num_images - self._count]):
            image = self._read_image(sample, data_batch, i)
            picture = self.draw(runner.visualizer, image, sample,
                                maps['soft_regions'][i], maps['attention'][i])
            path = sample.metainfo.get('img_path')
            name = osp.splitext(osp.basename(path))[0] if path else str(
                self._count)
            step = runner.iter if mode == 'val' else 0  # test: no train loop
            runner.visualizer.add_image(f'{mode}_regions_{name}', picture,
                                        step)
            self._count += 1
        if self._count >= self.num_images:
            self._after_epoch(runner, mode)

    def _after_epoch(self, runner: Runner, mode: str = 'train') -> None:
        """Switch recording off; the head drops its maps."""
        if self._head is not None:
            self._head.record_maps = False
        self._model = self._head = None

    def draw(self, vis: SegLocalVisualizer, image: np.ndarray,
             sample: SegDataSample, soft_regions: Tensor,
             attention: Tensor) -> np.ndarray:
        """The ``[2 * th, max(3, k + 1) * tw, 3]`` uint8 RGB picture of an
        ``[Ho, Wo, 3]`` RGB image, its output ``sample``, its ``[K, H, W]``
        soft-region logits and ``[K, h, w]`` attention."""
        classes = vis.dataset_meta['classes']
        num_classes, H, W = soft_regions.shape
        area = torch.bincount(sample.pred_sem_seg.data.flatten().clamp(
            0, num_classes), minlength=num_classes + 1).tolist()
        mass = soft_regions.float().softmax(0).sum((1, 2)).tolist()
        top = sorted(range(num_classes),
                     key=lambda k: (-area[k], -mass[k], k))[:self.top_k]
        region = self._region_id(classes)
        region = top[0] if region is None else region
        scale = self._head.spatial_gather_module.scale
        weights = (soft_regions[top].float().flatten(1) * scale).softmax(1)
        attended = resize(  # to the features, as the head's context
            attention[None, region:region + 1].float(), (H, W),
            mode='bilinear', align_corners=self._head.align_corners)[0]
        h, w = sample.ori_shape[:2]
        tile = mmcv.rescale_size(  # (th, tw), scaled to fit tile_size
            (w, h), min(1, (self.tile_size or max(h, w)) / max(h, w)))[::-1]
        maps = to_original(self._model, self._head,
                           torch.cat([weights.view(-1, H, W), attended]),
                           sample.metainfo, tile)  # [k + 1, th, tw]
        image = cv2.resize(image, tile[::-1], interpolation=cv2.INTER_AREA)
        blank = np.full_like(image, BLANK)
        rows = [[image] + [  # the label maps, drawn as add_datasample does
            vis._draw_sem_seg(image, PixelData(data=resize(
                sample.get(key).data[None].float(), tile)[0].long()), classes,
                vis.dataset_meta['palette']) if key in sample else blank
            for key in ('gt_sem_seg', 'pred_sem_seg')
        ], [vis.draw_featmap(m[None], image, alpha=self.alpha) for m in maps]]
        cols = max(map(len, rows))
        vis.set_image(np.concatenate([
            np.concatenate(row + [blank] * (cols - len(row)), axis=1)
            for row in rows]))
        texts = ['image', 'ground truth' if 'gt_sem_seg' in sample else
                 'no ground truth', 'prediction']
        texts += [f'region {classes[k]}' for k in top]
        texts += [f'attention to {classes[region]} (max {maps[-1].max():.2f})']
        corners = [(c * tile[1] + 1, r * tile[0] + 1)
                   for r, row in enumerate(rows) for c in range(len(row))]
        # Points at 100 dpi: a 13th of the tile or what fits its width.
        points = min(min(tile) / 18, 1.2 * tile[1] / max(map(len, texts)))
        vis.draw_texts(texts, np.array(corners), max(4, points), 'white',
                       bboxes=dict(facecolor='black', pad=1, linewidth=0))
        return vis.get_image()

    def _resolve(self, runner: Runner
                 ) -> Optional[Tuple[nn.Module, OCRPlusHead]]:
        """The unwrapped segmentor and its ``OCRPlusHead``, checked; None
        (warning once) under TTA or slide inference."""
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        test_mode = (getattr(model, 'test_cfg', None) or {}).get('mode')
        why = 'test-time augmentation' if isinstance(
            model, BaseTTAModel) else test_mode not in (
                None, 'whole') and f'test_cfg.mode={test_mode!r}'
        if why:
            return self._warn(
                f'RegionVisualizationHook draws nothing with {why}: the head '
                'runs more than once per image (use whole-image inference).')
        heads = getattr(model, 'decode_head', None)
        if isinstance(heads, nn.ModuleList):
            heads = heads[self.head_index]  # or IndexError: out of range
        if not isinstance(heads, OCRPlusHead):
            raise TypeError('RegionVisualizationHook: expected an OCRPlusHead'
                            f' at decode_head[{self.head_index}], found '
                            f'{type(heads).__name__}')
        classes = tuple(runner.visualizer.dataset_meta['classes'])
        if len(classes) != heads.num_classes:
            raise ValueError(
                f'RegionVisualizationHook: expected {heads.num_classes} '
                "classes (the head's num_classes) in the visualizer's "
                f'dataset_meta, found {len(classes)}: {classes}')
        self._region_id(classes)
        return model, heads

    def _region_id(self, classes: Sequence[str]) -> Optional[int]:
        """``region`` as a class id (None for the default)."""
        if isinstance(self.region, str) and self.region in classes:
            return list(classes).index(self.region)
        if self.region is None or isinstance(self.region, int) and (
                0 <= self.region < len(classes)):
            return self.region
        raise ValueError(
            'RegionVisualizationHook: region: expected a class id in '
            f'[0, {len(classes)}) or one of the class names '
            f'{tuple(classes)}, got {self.region!r}')

    def _read_image(self, sample: SegDataSample, data_batch: Optional[dict],
                    index: int) -> np.ndarray:
        """RGB: the file at ``img_path``, else the batch input (packed BGR)."""
        if sample.metainfo.get('img_path') is None:
            image = data_batch['inputs'][index].permute(1, 2, 0).cpu().numpy()
            return np.ascontiguousarray(image[..., ::-1])
        return mmcv.imfrombytes(
            fileio.get(sample.img_path, backend_args=self.backend_args),
            channel_order='rgb')

    def _warn(self, message: str) -> None:  # once
        if message not in self._warned:
            self._warned.add(message)
            print_log(message, logger='current', level=logging.WARNING)


def to_original(model: nn.Module, head: OCRPlusHead, maps: Tensor,
                metainfo: dict, size: Tuple[int, int]) -> Tensor:
    """``[M, H, W]`` maps brought to the original image, resized to
    ``size``, as the segmentor brings its logits: ``predict_by_feat``
    resizes to the padded input, ``postprocess_result`` crops the padding,
    undoes a flip and resizes (``M >= 2``: it sigmoids one channel)."""
    maps = head.predict_by_feat(maps[None], [metainfo])  # [1, M, Hp, Wp]
    sample = SegDataSample(metainfo={**metainfo, 'ori_shape': size})
    return model.postprocess_result(maps, [sample])[0].seg_logits.data
