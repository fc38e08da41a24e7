"""Image and label-map loaders that name the file they cannot read.

On a file that is not a decodable image, MMCV's ``LoadImageFromFile`` fails
with ``AssertionError: failed to load image`` (cv2) or a decoder error, and
MMSeg's ``LoadAnnotations`` with ``AttributeError: 'NoneType' object has no
attribute 'squeeze'`` (cv2) or a Pillow error, from deep inside a data
loader worker. The subclasses here raise :class:`UnreadableImageError`
instead, whose one-line message names the file, the results key it came
from and the expected format; they are otherwise their parents.
"""
import os.path as osp
import re
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

__all__ = [
    'LoadAnnotationsChecked', 'LoadImageFromFileChecked',
    'UnreadableImageError'
]


class UnreadableImageError(OSError):
    """An image or label map file is missing or cannot be decoded."""


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
    """MMSeg's ``LoadAnnotations`` (same arguments and keys) that raises
    :class:`UnreadableImageError` for a missing or undecodable label map.

    Required Keys: seg_map_path, reduce_zero_label, seg_fields.
    Modified Keys: gt_seg_map, seg_fields.
    """

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
