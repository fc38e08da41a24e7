"""Image and label-map loaders that name the file they cannot read.

On a file that is not a decodable image, MMCV's ``LoadImageFromFile`` fails
with ``AssertionError: failed to load image`` (cv2) or a decoder error, and
MMSeg's ``LoadAnnotations`` with ``AttributeError: 'NoneType' object has no
attribute 'squeeze'`` (cv2) or a Pillow error, from deep inside a data
loader worker. The subclasses here raise :class:`UnreadableImageError`
instead, whose one-line message names the file, the results key it came
from and the expected format; they are otherwise their parents.

A label map that decodes but holds values that are not class indices (25
with 19 classes) reaches the loss unnoticed and fails there, iterations
later, as ``IndexError: Target 25 is out of bounds`` without a file name;
one of another size than its image fails in a crop or the metric.
``LoadAnnotationsChecked(num_classes=...)`` raises
:class:`InvalidLabelMapError` as it loads such a map, naming the file, the
offending values (or sizes) and what was expected. ``tools/train.py`` and
``tools/test.py`` set ``num_classes`` from each dataset's classes where the
config leaves it out.
"""
import os.path as osp
import re
from typing import Optional

import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

__all__ = [
    'InvalidLabelMapError', 'LoadAnnotationsChecked',
    'LoadImageFromFileChecked', 'UnreadableImageError'
]

# Offending label values listed in a message before '... and N more'.
MAX_VALUES = 5


class UnreadableImageError(OSError):
    """An image or label map file is missing or cannot be decoded."""


class InvalidLabelMapError(ValueError):
    """A label map holds values that are neither a class index nor the
    ignore index, or its size is not its image's."""


def unreadable(path: str, key: str, backend: str,
               cause: Optional[BaseException]) -> UnreadableImageError:
    """The error for ``results[key] == path`` that did not decode with
    ``backend``; ``cause`` is the decoder's error (None: no image)."""
    if isinstance(cause, FileNotFoundError):
        return UnreadableImageError(
            f"{path}: no such file (expected the image named by "
            f"results['{key}'])")
    size = f'{osp.getsize(path)} bytes' if osp.isfile(path) else 'data'
    reason = 'no image returned'
    if cause is not None:
        # Pillow names the buffer: 'cannot identify image file <_io...>'.
        message = re.sub(r' <[^>]*>', '', (str(cause).splitlines() or [''])[0])
        reason = f'{type(cause).__name__}: {message}'.rstrip(': ')
    return UnreadableImageError(
        f'{path}: not a readable image (expected a PNG/JPEG file that the '
        f"'{backend}' backend can decode, got {size} it could not decode: "
        f"{reason}); read from results['{key}']")


@TRANSFORMS.register_module()
class LoadImageFromFileChecked(LoadImageFromFile):
    """MMCV's ``LoadImageFromFile`` (same arguments and keys) that raises
    :class:`UnreadableImageError` for a missing or undecodable file, unless
    ``ignore_empty`` is set (then it returns None, as MMCV's does).

    Required Keys: img_path. Modified Keys: img, img_shape, ori_shape.
    """

    def transform(self, results: dict) -> Optional[dict]:
        try:
            return super().transform(results)
        except Exception as err:  # reading and decoding are all it does
            if self.ignore_empty:
                return None
            # Its AssertionError is the cv2 backend returning no image.
            cause = None if isinstance(err, AssertionError) else err
            raise unreadable(results['img_path'], 'img_path',
                             self.imdecode_backend, cause) from err


@TRANSFORMS.register_module()
class LoadAnnotationsChecked(LoadAnnotations):
    """MMSeg's ``LoadAnnotations`` that raises :class:`UnreadableImageError`
    for a missing or undecodable label map and :class:`InvalidLabelMapError`
    for one that does not fit its dataset or image.

    Checked after ``reduce_zero_label`` and ``label_map`` are applied: every
    value is ``< num_classes`` or ``ignore_index``, and the map is as large
    as the image was when loaded (``ori_shape``, where an image loader ran
    first).

    Required Keys: seg_map_path, reduce_zero_label, seg_fields; ori_shape
    and img_path (optional, for the size check).
    Modified Keys: gt_seg_map, seg_fields.

    Args:
        num_classes (int, optional): The dataset's number of classes; None
            skips the value check. Defaults to None.
        ignore_index (int): The label of ignored pixels. Defaults to 255.
        **kwargs: ``LoadAnnotations``'s arguments.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def _load_seg_map(self, results: dict) -> None:
        try:
            super()._load_seg_map(results)
        except (AssertionError, KeyError):
            raise  # a config mismatch (reduce_zero_label), not the file
        except Exception as err:
            # The cv2 backend returns None, which fails on '.squeeze()'.
            cause = None if isinstance(err, AttributeError) else err
            raise unreadable(results['seg_map_path'], 'seg_map_path',
                             self.imdecode_backend, cause) from err
        self._check_size(results)
        if self.num_classes is not None:
            self._check_values(results)

    def _check_size(self, results: dict) -> None:
        """The label map's height and width are the image's."""
        label_shape = tuple(results['gt_seg_map'].shape[:2])
        image_shape = results.get('ori_shape')
        if image_shape is None or tuple(image_shape[:2]) == label_shape:
            return
        image = results.get('img_path', 'its image')
        raise InvalidLabelMapError(
            f"{results['seg_map_path']}: label map of "
            f'{_hw(label_shape)} (HxW), expected the size of its image '
            f'{image}, {_hw(image_shape)}')

    def _check_values(self, results: dict) -> None:
        """Every value is a class index or the ignore index."""
        label = results['gt_seg_map']  # [H, W] uint8
        bad = label >= self.num_classes
        if not bad.any():
            return
        bad &= label != self.ignore_index
        if not bad.any():
            return
        values, counts = np.unique(label[bad], return_counts=True)
        found = ', '.join(f'{value} ({count} pixels)' for value, count in
                          zip(values[:MAX_VALUES], counts[:MAX_VALUES]))
        if len(values) > MAX_VALUES:
            found += f' and {len(values) - MAX_VALUES} more values'
        applied = [
            name for name, used in (
                ('reduce_zero_label', self.reduce_zero_label),
                ('label_map', results.get('label_map')))
            if used
        ]
        after = f' after {" and ".join(applied)}' if applied else ''
        raise InvalidLabelMapError(
            f"{results['seg_map_path']}: label map holds {found}{after}; "
            f'expected class indices 0-{self.num_classes - 1} '
            f'({self.num_classes} classes) or the ignore index '
            f'{self.ignore_index}')


def _hw(shape) -> str:
    """``HxW`` of a shape."""
    return f'{shape[0]}x{shape[1]}'
