"""Image and label loaders that name the file they cannot read.

On a file that is not a decodable image, MMCV's ``LoadImageFromFile`` fails
with ``AssertionError: failed to load image`` (cv2) or a decoder error, and
MMSeg's ``LoadAnnotations`` with ``AttributeError: 'NoneType' object has no
attribute 'squeeze'`` (cv2) or a Pillow error, all from deep inside a data
loader worker. The loaders here subclass them and turn such failures into an
:class:`UnreadableImageError` whose one-line message names the file, the
results key it came from and what was expected. ``tools/train.py`` and
``tools/test.py`` print it without a traceback.
"""
from __future__ import annotations

import os.path as osp
import re
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

from ...utils.preflight import InvalidInputError

__all__ = [
    'LoadAnnotationsChecked', 'LoadImageFromFileChecked',
    'UnreadableImageError'
]


class UnreadableImageError(InvalidInputError):
    """An image or label map file is missing or cannot be decoded."""


def _unreadable(path: str, key: str, backend: str,
                cause: Optional[BaseException]) -> UnreadableImageError:
    """Build the error for a file that did not decode into an image.

    Args:
        path (str): The file.
        key (str): The results key holding ``path``.
        backend (str): The ``mmcv.imfrombytes`` backend that was used.
        cause (BaseException, optional): The decoder's error; ``None`` if it
            returned no image.

    Returns:
        UnreadableImageError: The error to raise.
    """
    if isinstance(cause, FileNotFoundError):
        return UnreadableImageError(
            f'{path}: no such file (expected the image named by '
            f"results['{key}'])")
    size = f'{osp.getsize(path)} bytes' if osp.isfile(path) else 'data'
    reason = 'no image returned'
    if cause is not None:
        # Pillow names the buffer: 'cannot identify image file <_io...>'.
        lines = str(cause).splitlines() or ['']
        message = re.sub(r' <[^>]*>', '', lines[0])
        reason = f'{type(cause).__name__}: {message}'.rstrip(': ')
    return UnreadableImageError(
        f'{path}: not a readable image (expected a PNG/JPEG file that the '
        f"'{backend}' backend can decode, got {size} it could not decode: "
        f"{reason}); read from results['{key}']")


@TRANSFORMS.register_module()
class LoadImageFromFileChecked(LoadImageFromFile):
    """Load an image from file, or fail with an error naming the file.

    MMCV's ``LoadImageFromFile`` with a clear error for a missing or
    undecodable file. Replace ``dict(type='LoadImageFromFile')`` with
    ``dict(type='LoadImageFromFileChecked')``; the arguments are the same.

    Required Keys:

    - img_path

    Modified Keys:

    - img
    - img_shape
    - ori_shape

    Args:
        **kwargs: Arguments of MMCV's ``LoadImageFromFile``
            (``to_float32``, ``color_type``, ``imdecode_backend``,
            ``ignore_empty``, ``backend_args``).

    Raises:
        UnreadableImageError: If ``results['img_path']`` is missing or not
            a decodable image, unless ``ignore_empty`` is set (then the
            transform returns ``None``, as MMCV's does).
    """

    def transform(self, results: dict) -> Optional[dict]:
        """Load the image at ``results['img_path']``.

        Args:
            results (dict): Result dict from the dataset.

        Returns:
            dict, optional: ``results`` with the image and its shapes.
        """
        try:
            loaded = super().transform(results)
        except Exception as err:
            # Reading and decoding are all the parent does; its assertion
            # is the cv2 backend returning no image.
            if self.ignore_empty:
                return None
            cause = None if isinstance(err, AssertionError) else err
            raise _unreadable(results['img_path'], 'img_path',
                              self.imdecode_backend, cause) from err
        return loaded


@TRANSFORMS.register_module()
class LoadAnnotationsChecked(LoadAnnotations):
    """Load a semantic segmentation label map, or fail with an error naming
    the file.

    MMSeg's ``LoadAnnotations`` with a clear error for a missing or
    undecodable label map. Replace ``dict(type='LoadAnnotations')`` with
    ``dict(type='LoadAnnotationsChecked')``; the arguments are the same.

    Required Keys:

    - seg_map_path (str): Path of the semantic segmentation label map.
    - reduce_zero_label (bool): Whether to shift the labels down by one.
    - seg_fields (list): Names of the segmentation fields.

    Modified Keys:

    - gt_seg_map (np.uint8): The label map, ``(H, W)``.
    - seg_fields (list): ``'gt_seg_map'`` appended.

    Args:
        **kwargs: Arguments of MMSeg's ``LoadAnnotations``
            (``reduce_zero_label``, ``backend_args``,
            ``imdecode_backend``).

    Raises:
        UnreadableImageError: If ``results['seg_map_path']`` is missing or
            not a decodable image.
    """

    def _load_seg_map(self, results: dict) -> None:
        """Load the label map at ``results['seg_map_path']``.

        Args:
            results (dict): Result dict from the dataset.
        """
        try:
            super()._load_seg_map(results)
        except (AssertionError, KeyError):
            raise  # a config mismatch (reduce_zero_label), not the file
        except Exception as err:
            # The cv2 backend returns None, which fails on '.squeeze()'.
            cause = None if isinstance(err, AttributeError) else err
            raise _unreadable(results['seg_map_path'], 'seg_map_path',
                              self.imdecode_backend, cause) from err
