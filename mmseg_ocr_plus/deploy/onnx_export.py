"""Export a segmentor's ``_forward`` to ONNX.

The graph's input ``inputs`` is the preprocessed float image ``[N, 3, H, W]``
(what ``model._forward`` takes: after ``data_preprocessor``'s mean/std);
its output ``logits`` is what ``model._forward`` returns, the last-stage
logits ``[N, K, h, w]`` (``h x w`` = H/4 x W/4 for HRNet, H/8 x W/8 for
ResNet-D8), unresized. With ``postprocess`` a second output ``labels``
``[N, H, W]`` (int64) holds the argmax of the logits resized (bilinear) to
the input size, as ``predict`` computes it.

MMSeg's ``Upsample`` layers (HRNet's fuse) are replaced by
:class:`~.exportable_upsample.ExportableUpsample` (same function) so that
dynamic sizes trace. Uses PyTorch's TorchScript exporter
(``dynamo=False``): the dynamo exporter needs ``onnxscript``, which is not
part of the ``deploy`` extra.
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .exportable_upsample import replace_upsample

__all__ = ['SegmentorExport', 'export_onnx']


class SegmentorExport(nn.Module):
    """The traced function: ``model._forward``, optionally + postprocess.

    Args:
        model (nn.Module): A segmentor in eval mode.
        postprocess (bool): Also output the argmax labels at input size.
            Defaults to False.
    """

    def __init__(self, model: nn.Module, postprocess: bool = False) -> None:
        super().__init__()
        self.model = model
        self.postprocess = postprocess
        heads = getattr(model, 'decode_head', None)
        head = heads[-1] if isinstance(heads, nn.ModuleList) else heads
        self.align_corners = bool(getattr(head, 'align_corners', False))

    def output_names(self) -> Tuple[str, ...]:
        return ('logits', 'labels') if self.postprocess else ('logits', )

    def forward(self, inputs: Tensor):
        logits = self.model._forward(inputs)  # [N, K, h, w]
        if not self.postprocess:
            return logits
        resized = F.interpolate(
            logits,
            size=inputs.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)  # [N, K, H, W]
        return logits, resized.argmax(dim=1)  # [N, H, W]


def export_onnx(model: nn.Module,
                path: str,
                shape: Sequence[int] = (512, 1024),
                dynamic: bool = False,
                postprocess: bool = False,
                opset: int = 17) -> SegmentorExport:
    """Write ``model._forward`` (and the postprocess) as an ONNX file.

    Args:
        model (nn.Module): A segmentor in eval mode, fp32 (not wrapped in
            autocast). Its MMSeg ``Upsample`` layers are replaced in place
            (same function, see :func:`replace_upsample`).
        path (str): The ``.onnx`` file to write.
        shape (Sequence[int]): ``(H, W)`` of the example input traced.
            Defaults to (512, 1024).
        dynamic (bool): Dynamic batch, height and width. Defaults to False.
        postprocess (bool): Add the ``labels`` output. Defaults to False.
        opset (int): ONNX opset version. Defaults to 17.

    Returns:
        SegmentorExport: The exported module (to compare against).
    """
    replace_upsample(model)
    wrapper = SegmentorExport(model, postprocess).eval()
    param = next(model.parameters())
    example = torch.zeros(1, 3, *shape, device=param.device)
    names = wrapper.output_names()
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {'inputs': {0: 'batch', 2: 'height', 3: 'width'},
                        'logits': {0: 'batch', 2: 'out_h', 3: 'out_w'}}
        if postprocess:
            dynamic_axes['labels'] = {0: 'batch', 1: 'height', 2: 'width'}
    with torch.no_grad():
        torch.onnx.export(
            wrapper, (example, ),
            path,
            input_names=['inputs'],
            output_names=list(names),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            dynamo=False)
    return wrapper
