"""Pictures of the learnt per-scale attention of hierarchical multi-scale
attention (https://arxiv.org/abs/2005.10821)."""
import os.path as osp
from typing import Optional, Sequence

import cv2
import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import Runner
from mmseg.models.utils import resize
from mmseg.registry import HOOKS
from mmseg.structures import SegDataSample

from ...models.segmentors import MultiScaleAttentionOCR


@HOOKS.register_module()
class ScaleAttentionVisualizationHook(Hook):
    """Draw ``MultiScaleAttentionOCR``'s attention of every fused scale.

    For the first ``num_images`` images of each validation and test epoch
    the segmentor keeps its attention maps (``record_attention``) and the
    hook sends one picture per image to ``runner.visualizer.add_image``:
    the image, then for each scale after the largest (in
    ``test_cfg.scales`` order, largest first) the heat map of that scale's
    attention ``a_s`` over the image: where it is high, the prediction at
    scale ``s`` wins over the larger scales'.

    Args:
        num_images (int): Images drawn per epoch. Defaults to 4.
        alpha (float): Opacity of the heat maps. Defaults to 0.6.
        backend_args (dict, optional): File backend arguments to read the
            images. Defaults to None.
    """

    def __init__(self, num_images: int = 4, alpha: float = 0.6,
                 backend_args: Optional[dict] = None) -> None:
        if not (isinstance(num_images, int) and num_images >= 0):
            raise ValueError(
                f'num_images: expected an int >= 0, got {num_images!r}')
        self.num_images, self.alpha = num_images, alpha
        self.backend_args = backend_args.copy() if backend_args else None
        self._model: Optional[MultiScaleAttentionOCR] = None
        self._count = 0

    @staticmethod
    def _segmentor(runner: Runner) -> MultiScaleAttentionOCR:
        model = runner.model
        while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
            model = model.module
        if not isinstance(model, MultiScaleAttentionOCR):
            raise TypeError('ScaleAttentionVisualizationHook: expected a '
                            'MultiScaleAttentionOCR model, got '
                            f'{type(model).__name__}')
        return model

    def before_run(self, runner: Runner) -> None:
        """Fail fast on a model without per-scale attention."""
        if self.num_images > 0:
            self._segmentor(runner)

    def _before_epoch(self, runner: Runner, mode: str = 'train') -> None:
        """Switch recording on for a validation or test epoch."""
        self._after_epoch(runner, mode)
        self._count = 0
        if mode != 'train' and self.num_images > 0 and is_main_process():
            self._model = self._segmentor(runner)
            self._model.record_attention = True

    def _after_iter(self, runner: Runner, batch_idx: int,
                    data_batch: Optional[dict] = None,
                    outputs: Optional[Sequence[SegDataSample]] = None,
                    mode: str = 'train') -> None:
        """Draw the images of this batch among the first ``num_images``."""
        if mode == 'train' or self._model is None:
            return
        maps = self._model.recorded_attention or {}
        self._model.recorded_attention = None
        for i, sample in enumerate(outputs[:self.num_images - self._count]):
            path = sample.img_path
            image = mmcv.imfrombytes(
                fileio.get(path, backend_args=self.backend_args),
                channel_order='rgb')
            picture = self.draw(image, [a[i] for a in maps.values()])
            name = osp.splitext(osp.basename(path))[0]
            step = runner.iter if mode == 'val' else 0
            runner.visualizer.add_image(f'{mode}_scale_attention_{name}',
                                        picture, step)
            self._count += 1
        if self._count >= self.num_images:
            self._after_epoch(runner, mode)

    def _after_epoch(self, runner: Runner, mode: str = 'train') -> None:
        """Switch recording off."""
        if self._model is not None:
            self._model.record_attention = False
            self._model.recorded_attention = None
        self._model = None

    def draw(self, image: np.ndarray, attentions: list) -> np.ndarray:
        """``[H, (1 + S) * W, 3]`` uint8 RGB: the ``[H, W, 3]`` image and,
        for each ``[1, H_s, W_s]`` attention resized to it, a jet heat map
        on the absolute scale (0 blue, 1 red) blended over the image."""
        tiles = [image]
        for attention in attentions:
            heat = resize(attention[None].float(), size=image.shape[:2],
                          mode='bilinear', align_corners=False)[0, 0]
            heat = (heat.clamp(0, 1) * 255).byte().cpu().numpy()
            colour = cv2.applyColorMap(heat, cv2.COLORMAP_JET)[..., ::-1]
            tiles.append((self.alpha * colour +
                          (1 - self.alpha) * image).astype(np.uint8))
        return np.concatenate(tiles, axis=1)
