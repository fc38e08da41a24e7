"""The second half of a ``conv-norm-act`` ConvModule, for heads that compute
its conv another way (split into halves or levels) but keep its layers and
state-dict keys."""
from mmcv.cnn import ConvModule
from torch import Tensor


def norm_act(module: ConvModule, x: Tensor) -> Tensor:
    """Apply the norm and activation of a ``conv-norm-act`` ConvModule."""
    if module.with_norm:
        x = module.norm(x)
    if module.with_activation:
        x = module.activate(x)
    return x
