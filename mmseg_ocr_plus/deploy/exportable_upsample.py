"""MMSeg's ``Upsample`` with a traceable output size, for ONNX export.

MMSeg's ``Upsample`` (HRNet's fuse layers) computes its output size as
``[int(t * scale_factor) for t in x.shape[-2:]]``; the ``int`` turns the
traced sizes into constants, so a ``--dynamic`` graph resizes every input
to the traced size (wrong logits at any other size). For a whole-number
``scale_factor`` the output size ``t * scale_factor`` is exact and
``F.interpolate(x, scale_factor=...)`` samples the same points (its scale is
``1 / scale_factor`` = input / output size), so this module is a drop-in
replacement that exports ONNX ``Resize`` with scales.
"""
import torch.nn.functional as F
from mmseg.models.utils import Upsample
from torch import Tensor, nn

__all__ = ['ExportableUpsample', 'replace_upsample']


class ExportableUpsample(nn.Module):
    """``F.interpolate`` by a whole-number ``scale_factor``.

    Args:
        scale_factor (int): Output size / input size (2, 4, 8 in HRNet).
        mode (str): Interpolation mode.
        align_corners (bool, optional): As ``F.interpolate``.
    """

    def __init__(self, scale_factor: int, mode: str, align_corners) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(
            x,
            scale_factor=self.scale_factor,
            mode=self.mode,
            align_corners=self.align_corners)


def replace_upsample(model: nn.Module) -> int:
    """Replace MMSeg ``Upsample`` layers with a whole-number scale factor
    and no fixed size by :class:`ExportableUpsample`, in place.

    Args:
        model (nn.Module): Changed in place.

    Returns:
        int: The number of layers replaced.
    """
    found = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if (isinstance(child, Upsample) and not child.size
                    and float(child.scale_factor).is_integer()):
                found.append((parent, name, child))
    for parent, name, child in found:
        setattr(
            parent, name,
            ExportableUpsample(
                int(child.scale_factor), child.mode, child.align_corners))
    return len(found)
