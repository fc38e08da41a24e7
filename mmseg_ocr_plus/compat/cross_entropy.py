"""MMSeg's cross-entropy with class weights on labels with ignored pixels.

Fixes: with ``class_weight`` and ``reduction='mean'`` MMSeg's
``cross_entropy`` indexes ``class_weight[label]`` with the ignore index and
fails (``IndexError: index 255 is out of bounds``,
open-mmlab/mmsegmentation#3734) on Cityscapes or ADE20K labels. Applies to
MMSeg <= 1.2.2 (the newest); delete it when #3734 is fixed. Losses built
after the fix get it (a ``CrossEntropyLoss`` reads its module's function
when built); ``ClassStatisticsHook`` swaps it onto one built before.
"""
import sys
from typing import Optional

from mmengine.utils import digit_version
from torch import Tensor


def ignore_safe_cross_entropy(
        pred: Tensor, label: Tensor, weight: Optional[Tensor] = None,
        class_weight: Optional[Tensor] = None, reduction: str = 'mean',
        avg_factor: Optional[Tensor] = None, ignore_index: int = -100,
        avg_non_ignore: bool = False) -> Tensor:
    """MMSeg's ``cross_entropy`` (same arguments) that also takes class
    weights with ignored pixels in ``label``.

    Only where MMSeg's function fails (class weights, ``'mean'``, no
    ``avg_factor``, an ignore index outside ``[-K, K)``) is the average
    factor computed here: the class weights ``[K]`` summed over the pixels
    of ``label`` ``[B, H, W]`` that are not ignored (PyTorch's weighted
    mean). Otherwise it is MMSeg's function (``__wrapped__``) unchanged.
    """
    if not hasattr(ignore_safe_cross_entropy, '__wrapped__'):
        install()  # called before MMSeg's module was patched
    if (class_weight is not None and avg_factor is None
            and reduction == 'mean'
            and not -len(class_weight) <= ignore_index < len(class_weight)):
        valid = label != ignore_index  # [B, H, W]
        avg_factor = (class_weight[label.where(valid, 0)] * valid).sum()
    return ignore_safe_cross_entropy.__wrapped__(
        pred, label, weight, class_weight, reduction, avg_factor,
        ignore_index, avg_non_ignore)


def install() -> bool:
    """Put the fixed function into every ``mmseg`` module that holds MMSeg's
    (``mmseg.models.losses`` re-exports it); returns whether it applies."""
    import mmseg
    from mmseg.models.losses import cross_entropy_loss

    if digit_version(mmseg.__version__) > digit_version('1.2.2'):
        return False
    current = cross_entropy_loss.cross_entropy
    if current is not ignore_safe_cross_entropy:
        ignore_safe_cross_entropy.__wrapped__ = current
    original = ignore_safe_cross_entropy.__wrapped__
    for name, module in list(sys.modules.items()):
        if (name.split('.')[0] == 'mmseg' and getattr(
                module, '__dict__', {}).get('cross_entropy') is original):
            module.cross_entropy = ignore_safe_cross_entropy
    return True
