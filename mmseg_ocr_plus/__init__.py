"""mmseg-ocr-plus: OCRNet for MMSegmentation 1.x.

Importing this package registers every head, segmentor, transform and hook
into MMSeg's registries. The compatibility fixes in :mod:`.utils.compat` run
first, because MMSeg itself does not import on mmcv-lite without them.
"""
from .utils.compat import apply_compat
from .utils.pretrained import explain_download_errors

apply_compat()
explain_download_errors()  # offline: say which weights and what to do

from . import datasets, engine, models  # noqa: E402,F401

apply_compat()  # again, for the fixes to MMSeg's own modules, now imported
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'apply_compat']
