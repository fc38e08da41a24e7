"""mmseg-ocr-plus: OCRNet for MMSegmentation 1.x.

Importing this package registers every head, segmentor, transform and hook
into MMSeg's registries. The compatibility fixes (:mod:`.compat`) run first:
MMSeg itself does not import on mmcv-lite without them.
"""
from .compat import apply_compat

apply_compat()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .deploy import prepare_for_inference  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'apply_compat', 'prepare_for_inference']
