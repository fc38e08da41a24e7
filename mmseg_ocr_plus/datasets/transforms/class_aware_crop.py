"""Class-aware random crop: class-uniform sampling for semantic segmentation.

With probability ``prob`` the crop is centred on a pixel of a class drawn
uniformly among the classes present in the label map (or among the rare
classes present), otherwise it is MMSeg's ``RandomCrop`` with its
``cat_max_ratio`` retries. Rare classes then appear in far more crops than
their pixel share would give them. This is the class-uniform sampling of
Zhu et al., "Improving Semantic Segmentation via Video Propagation and Label
Relaxation", CVPR 2019, https://arxiv.org/abs/1812.01593 (NVIDIA's
``semantic-segmentation`` code), applied per image inside the pipeline.
"""
from __future__ import annotations

import numbers
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms.utils import cache_randomness
from mmengine.dist import get_rank
from mmseg.datasets.transforms import RandomCrop
from mmseg.registry import TRANSFORMS
from torch.utils.data import get_worker_info

__all__ = ['ClassAwareRandomCrop']

BBox = Tuple[int, int, int, int]  # (y1, y2, x1, x2), as RandomCrop's


def _is_int(value) -> bool:
    """Whether ``value`` is an integer (``bool`` excluded)."""
    return isinstance(value, numbers.Integral) and not isinstance(
        value, bool)


def _is_real(value) -> bool:
    """Whether ``value`` is a real number (``bool`` excluded)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_class_ids(class_ids: Sequence[int], name: str,
                     ignore_index: int) -> Optional[Tuple[int, ...]]:
    """Validate class ids; returns them without duplicates, or ``None``.

    Args:
        class_ids (Sequence[int]): Class ids, possibly empty.
        name (str): Argument name for the error messages.
        ignore_index (int): A value the ids may not take.

    Returns:
        tuple[int] | None: The ids in their first-seen order, ``None`` if
        ``class_ids`` is empty.
    """
    if isinstance(class_ids, (str, bytes)) or not isinstance(
            class_ids, (Sequence, np.ndarray)):
        raise TypeError(f'Expected {name} to be a sequence of class ids, '
                        f'got {type(class_ids).__name__}: {class_ids!r}')
    ids = []
    for class_id in class_ids:
        if not _is_int(class_id) or class_id < 0:
            raise ValueError(f'Expected {name} to hold non-negative integer '
                             f'class ids, got {class_id!r} in {class_ids!r}')
        if class_id == ignore_index:
            raise ValueError(f'Expected {name} to exclude ignore_index '
                             f'{ignore_index}, got {list(class_ids)!r}')
        if int(class_id) not in ids:
            ids.append(int(class_id))
    return tuple(ids) or None


@TRANSFORMS.register_module()
class ClassAwareRandomCrop(RandomCrop):
    """Random crop that, with probability ``prob``, centres on a drawn class.

    A class-centred crop draws a class uniformly among the classes present in
    ``gt_seg_map`` (``ignore_index`` excluded), then one pixel of that class
    uniformly, and places the crop so that the pixel is as close to its
    centre as the image allows: the crop never leaves the image. If
    ``rare_classes`` is set, the class is drawn among the rare classes
    present in this image instead; an image without any of them falls back
    to all classes present. ``cat_max_ratio`` does not apply to a
    class-centred crop (the drawn class may well fill it).

    Otherwise, and always for a label map holding only ``ignore_index``, the
    crop is MMSeg's ``RandomCrop``: a uniform offset, redrawn up to 10 times
    while one class exceeds ``cat_max_ratio`` of the crop. Along an axis on
    which the image is smaller than ``crop_size``, every crop, class-centred
    or not, keeps the whole axis (the output is smaller than ``crop_size``,
    as with ``RandomCrop``). The image and every key in ``seg_fields`` are
    cropped with the same box.

    Randomness:

    - ``seed=None`` (default): all draws use the global ``np.random``, the
      same source as MMSeg's ``RandomCrop``. ``randomness=dict(seed=...)`` in
      an MMEngine config seeds it in the main process and, through
      MMEngine's ``worker_init_fn``, differently in each data loader worker
      and rank, so the run is reproducible without anything set here. With
      ``prob=0`` the crops are those of ``RandomCrop`` under the same global
      state, draw for draw.
    - ``seed=<int>``: the transform draws from its own
      ``np.random.Generator``, independent of the global state. Its stream
      is derived from ``seed``, the distributed rank and the data loader
      worker id (``np.random.SeedSequence(seed, spawn_key=(rank,
      worker_id + 1))``, ``worker_id + 1 = 0`` outside a worker), so workers
      and ranks crop differently but reproducibly, and two instances with
      the same seed give the same crops for the same inputs in the same
      process. A worker restarts its stream whenever it is started, so with
      ``persistent_workers=False`` an epoch-based loop repeats the crops of
      each worker every epoch (as MMEngine's own per-worker ``np.random``
      seeding does); prefer ``seed=None`` for training runs.

    No coin is drawn when ``prob`` is 0 or 1.

    Required Keys:

    - img
    - gt_seg_map
    - seg_fields

    Modified Keys:

    - img
    - img_shape
    - gt_seg_map and every other key in ``seg_fields`` (a key not listed
      there is not cropped, as in ``RandomCrop``; ``LoadAnnotations`` lists
      ``gt_seg_map``)

    Args:
        crop_size (int | Sequence[int]): Crop ``(h, w)``; an int gives a
            square crop.
        prob (float): Probability of a class-centred crop. Default: 0.5.
        cat_max_ratio (float): The largest share of the crop that one class
            may occupy in a standard crop, in ``(0, 1]``; 1 disables the
            check. Default: 1.0.
        ignore_index (int): Label value that is not a class. Default: 255.
        rare_classes (Sequence[int], optional): Classes to centre on when
            present in the image; ``None`` or empty draws among all classes
            present. ``ClassStatisticsHook(num_rare_classes=N)`` and
            ``tools/analysis_tools/class_statistics.py`` print the N rarest
            classes of a training set for this. Default: None.
        seed (int, optional): Non-negative seed of the transform's own
            generator; ``None`` uses the global ``np.random`` (see above).
            Default: None.
    """

    # Our own list: ``@cache_randomness`` below would otherwise append a
    # second 'crop_bbox' to RandomCrop's, and ``cache_random_params`` would
    # then count each call twice and reject RandomCrop itself.
    _methods_with_randomness: List[str] = []

    def __init__(self,
                 crop_size: Union[int, Sequence[int]],
                 prob: float = 0.5,
                 cat_max_ratio: float = 1.,
                 ignore_index: int = 255,
                 rare_classes: Optional[Sequence[int]] = None,
                 seed: Optional[int] = None) -> None:
        crop_size = self._check_crop_size(crop_size)
        if not _is_real(prob) or not 0 <= prob <= 1:
            raise ValueError(f'Expected prob to be a number in [0, 1], got '
                             f'{prob!r}')
        if not _is_real(cat_max_ratio) or not 0 < cat_max_ratio <= 1:
            raise ValueError('Expected cat_max_ratio to be a number in '
                             f'(0, 1], got {cat_max_ratio!r}')
        if not _is_int(ignore_index):
            raise TypeError('Expected ignore_index to be an int, got '
                            f'{type(ignore_index).__name__}: '
                            f'{ignore_index!r}')
        if seed is not None and (not _is_int(seed) or seed < 0):
            raise ValueError('Expected seed to be None or a non-negative '
                             f'int, got {seed!r}')
        super().__init__(crop_size, float(cat_max_ratio), int(ignore_index))
        self.prob = float(prob)
        self.seed = None if seed is None else int(seed)
        self.rare_classes: Optional[Tuple[int, ...]] = None
        if rare_classes is not None:
            self.rare_classes = _check_class_ids(rare_classes,
                                                 'rare_classes',
                                                 self.ignore_index)
        # The generator of the process it was made in: (rank, worker slot).
        self._rng: Optional[np.random.Generator] = None
        self._rng_owner: Optional[Tuple[int, int]] = None

    @staticmethod
    def _check_crop_size(crop_size) -> Tuple[int, int]:
        """Return ``crop_size`` as ``(h, w)`` or raise a clear error."""
        if _is_int(crop_size):
            size = (crop_size, crop_size)
        elif isinstance(crop_size, Sequence) and not isinstance(
                crop_size, str) and len(crop_size) == 2:
            size = tuple(crop_size)
        else:
            raise TypeError('Expected crop_size to be an int or an (h, w) '
                            f'pair of ints, got {crop_size!r}')
        if not all(_is_int(s) and s > 0 for s in size):
            raise ValueError('Expected crop_size to hold positive ints, got '
                             f'{crop_size!r}')
        return int(size[0]), int(size[1])

    def _generator(self) -> Optional[np.random.Generator]:
        """The transform's generator for this process, ``None`` without a
        seed (then the global ``np.random`` is used)."""
        if self.seed is None:
            return None
        owner = (get_rank(), _worker_id() + 1)
        if self._rng is None or self._rng_owner != owner:
            # A copy forked into a worker re-derives its own stream.
            self._rng = np.random.default_rng(
                np.random.SeedSequence(self.seed, spawn_key=owner))
            self._rng_owner = owner
        return self._rng

    @staticmethod
    def _randint(rng: Optional[np.random.Generator], high: int) -> int:
        """A uniform integer in ``[0, high)``, drawn as ``RandomCrop`` does
        when ``rng`` is ``None``."""
        if rng is None:
            return int(np.random.randint(0, high))
        return int(rng.integers(0, high))

    def _random_bbox(self, shape: Tuple[int, int],
                     rng: Optional[np.random.Generator]) -> BBox:
        """A crop box at a uniform offset (``RandomCrop``'s draw)."""
        margin_h = max(shape[0] - self.crop_size[0], 0)
        margin_w = max(shape[1] - self.crop_size[1], 0)
        y1 = self._randint(rng, margin_h + 1)
        x1 = self._randint(rng, margin_w + 1)
        return y1, y1 + self.crop_size[0], x1, x1 + self.crop_size[1]

    def _standard_bbox(self, results: dict,
                       rng: Optional[np.random.Generator]) -> BBox:
        """``RandomCrop.crop_bbox``: redraw up to 10 times while one class
        exceeds ``cat_max_ratio`` of the crop."""
        shape = results['img'].shape[:2]
        bbox = self._random_bbox(shape, rng)
        if self.cat_max_ratio < 1.:
            for _ in range(10):
                seg = self.crop(results['gt_seg_map'], bbox)
                labels, cnt = np.unique(seg, return_counts=True)
                cnt = cnt[labels != self.ignore_index]
                if len(cnt) > 1 and np.max(cnt) / np.sum(
                        cnt) < self.cat_max_ratio:
                    break
                bbox = self._random_bbox(shape, rng)
        return bbox

    def _present_classes(self, seg: np.ndarray) -> np.ndarray:
        """Sorted class ids in ``seg``, ``ignore_index`` excluded."""
        if seg.dtype.kind == 'u' and seg.size:
            # Much faster than np.unique on 8/16-bit label maps.
            present = np.flatnonzero(np.bincount(seg.ravel()))
        else:
            present = np.unique(seg)
        return present[present != self.ignore_index]

    def _candidate_classes(self, seg: np.ndarray) -> np.ndarray:
        """The classes a class-centred crop may draw from (maybe none)."""
        present = self._present_classes(seg)
        if self.rare_classes is not None:
            rare = present[np.isin(present, self.rare_classes)]
            if len(rare):
                return rare
        return present

    def _centred_bbox(self, shape: Tuple[int, int], y: int, x: int) -> BBox:
        """The crop box whose centre is nearest to pixel ``(y, x)``."""
        box = []
        for centre, size, crop in zip((y, x), shape, self.crop_size):
            start = min(max(centre - crop // 2, 0), max(size - crop, 0))
            box += [start, start + crop]
        return box[0], box[1], box[2], box[3]

    @cache_randomness
    def crop_bbox(self, results: dict) -> BBox:
        """Draw the crop box, class-centred with probability ``prob``.

        Args:
            results (dict): Result dict with ``img`` and ``gt_seg_map``.

        Returns:
            tuple: ``(y1, y2, x1, x2)``; the end coordinates may exceed the
            image on an axis shorter than the crop.
        """
        if 'gt_seg_map' not in results:
            raise KeyError(f'{type(self).__name__} expected '
                           "results['gt_seg_map'] (add LoadAnnotations "
                           'before it), got keys '
                           f'{sorted(results)}')
        seg = results['gt_seg_map']
        shape = results['img'].shape[:2]
        if seg.shape != shape:
            raise ValueError('Expected a 2-D gt_seg_map of the image size '
                             f'{tuple(shape)}, got shape {seg.shape}')
        rng = self._generator()
        if self.prob == 1:
            centred = True
        elif self.prob == 0:
            centred = False
        else:
            coin = np.random.rand() if rng is None else rng.random()
            centred = coin < self.prob
        if centred:
            classes = self._candidate_classes(seg)
            if len(classes):
                label = classes[self._randint(rng, len(classes))]
                pixels = np.flatnonzero(seg == label)
                index = int(pixels[self._randint(rng, len(pixels))])
                y, x = divmod(index, seg.shape[1])
                return self._centred_bbox(shape, y, x)
            # Only ignore_index: nothing to centre on.
        return self._standard_bbox(results, rng)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'prob={self.prob}, cat_max_ratio={self.cat_max_ratio}, '
                f'ignore_index={self.ignore_index}, '
                f'rare_classes={self.rare_classes}, seed={self.seed})')


def _worker_id() -> int:
    """The data loader worker id of this process, -1 outside a worker."""
    info = get_worker_info()
    return -1 if info is None else info.id
