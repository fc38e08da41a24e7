from .shared_transform import shared_transform_inputs, transform_key
from .upsampled_conv import conv3x3_upsampled, resize_concat_conv3x3

__all__ = [
    'conv3x3_upsampled', 'resize_concat_conv3x3', 'shared_transform_inputs',
    'transform_key'
]
