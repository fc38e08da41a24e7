"""``AutocastOptimWrapper``: bfloat16 autocast on the CPU, no loss scale."""
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS, OPTIM_WRAPPERS
from mmseg.structures import SegDataSample
from torch import nn

from mmseg_ocr_plus.engine import AutocastOptimWrapper

DEMO_CONFIG = 'configs/demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'  # noqa: E501


def test_bf16_training_step_on_cpu():
    torch.manual_seed(0)
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.model.data_preprocessor.size = (32, 32)
    model = MODELS.build(cfg.model)
    model.train()
    wrapper = OPTIM_WRAPPERS.build(
        dict(
            type='AutocastOptimWrapper',
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    assert isinstance(wrapper, AutocastOptimWrapper)

    conv_dtypes = set()

    def record(module, inputs, output):
        conv_dtypes.add(output.dtype)

    handles = [
        m.register_forward_hook(record) for m in model.modules()
        if isinstance(m, nn.Conv2d)
    ]
    samples = []
    for _ in range(2):
        sample = SegDataSample(
            gt_sem_seg=PixelData(data=torch.randint(0, 19, (1, 32, 32))))
        sample.set_metainfo(
            dict(img_shape=(32, 32), pad_shape=(32, 32), ori_shape=(32, 32)))
        samples.append(sample)
    data = dict(
        inputs=[torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)] * 2,
        data_samples=samples)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    log_vars = model.train_step(data, wrapper)
    for handle in handles:
        handle.remove()

    assert conv_dtypes == {torch.bfloat16}
    assert math.isfinite(log_vars['loss'].item())
    changed = 0
    for name, param in model.named_parameters():
        assert param.dtype == torch.float32, name  # master weights stay fp32
        assert torch.isfinite(param).all(), name
        changed += not torch.equal(param, before[name])
    assert changed > 0
    # Outside the context nothing is cast.
    assert model.backbone.conv1(torch.zeros(1, 3, 8, 8)).dtype == torch.float32


@pytest.mark.parametrize('dtype', ['float16', torch.float16, 'float32'])
def test_only_bfloat16(dtype):
    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="Expected dtype 'bfloat16'"):
        AutocastOptimWrapper(optimizer=optimizer, dtype=dtype)
