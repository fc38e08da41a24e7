from .conv_module import norm_act
from .lowres_conv import (
    check_lowres_option,
    resize_concat_conv,
    resize_concat_conv_module,
)
from .pointwise_conv import PointwiseConv2d, conv1x1
from .scale_attention_head import ScaleAttentionHead
from .scale_fusion import fuse_scales, resize_as
from .shared_transform import (
    shared_resize_concat,
    shared_transform_inputs,
    transform_key,
)
from .upsampled_conv import upsampled_conv

__all__ = [
    'PointwiseConv2d', 'ScaleAttentionHead', 'check_lowres_option', 'conv1x1',
    'fuse_scales', 'norm_act', 'resize_as', 'resize_concat_conv',
    'resize_concat_conv_module', 'shared_resize_concat',
    'shared_transform_inputs', 'transform_key', 'upsampled_conv'
]
