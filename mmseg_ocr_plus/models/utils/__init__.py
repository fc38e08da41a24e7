from .pointwise_conv import PointwiseConv2d, conv1x1
from .scale_attention_head import ScaleAttentionHead
from .scale_fusion import fuse_scales, resize_as
from .shared_transform import shared_transform_inputs, transform_key
from .upsampled_conv import conv3x3_upsampled, resize_concat_conv3x3

__all__ = [
    'PointwiseConv2d', 'ScaleAttentionHead', 'conv1x1', 'fuse_scales',
    'resize_as',
    'conv3x3_upsampled', 'resize_concat_conv3x3', 'shared_transform_inputs',
    'transform_key'
]
