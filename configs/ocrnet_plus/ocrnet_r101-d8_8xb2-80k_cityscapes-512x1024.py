_base_ = './ocrnet_r101-d8_4xb2-80k_cityscapes-512x1024.py'
# 8 GPUs x 2 images: lr 0.02 as in MMSeg's 8xb2 config. MMSeg's config keeps
# PolyLR(end=40000) under its 80k schedule, so its LR stops decaying half
# way; here the schedule ends with training.
optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0005)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=2e-4,
        power=0.9,
        begin=0,
        end=80000,  # == max_iters
        by_epoch=False)
]
