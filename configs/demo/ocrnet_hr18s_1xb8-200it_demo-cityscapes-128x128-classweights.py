# The demo recipe with class-weighted cross-entropy: ClassStatisticsHook
# counts the training set's class pixels before training and sets
# median-frequency weights on the CE losses of both heads.
_base_ = './ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'

custom_hooks = _base_.custom_hooks + [
    dict(type='ClassStatisticsHook', scheme='median_frequency'),
]
