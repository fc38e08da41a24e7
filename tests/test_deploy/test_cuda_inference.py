"""The fast path on CUDA: fp16 ``prepare_for_inference`` and
``CUDAGraphForward`` on the calibrated demo model. Skipped without a GPU
(CI has none), except the input checks."""
import copy
import gc

import pytest
import torch
from calibrated_models import build_calibrated, smooth_inputs

from mmseg_ocr_plus import prepare_for_inference
from mmseg_ocr_plus.deploy import CUDAGraphForward

DEMO = 'demo/ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py'
requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs CUDA')


@pytest.fixture(scope='module')
def demo_model():
    return build_calibrated(DEMO, smooth_inputs(8, 64, 128))


def test_graph_refuses_a_cpu_input(demo_model):
    with pytest.raises(ValueError, match='expected a CUDA input, got one on '
                       'cpu'):
        CUDAGraphForward(demo_model, smooth_inputs(1, 64, 96))


@requires_cuda
def test_fp16_fast_path_on_cuda(demo_model):
    inputs = smooth_inputs(2, 128, 256).cuda()
    model = copy.deepcopy(demo_model).cuda()
    with torch.no_grad():
        expected = model(inputs, mode='tensor')
        fast = prepare_for_inference(model, torch.float16)
        logits = fast(inputs, mode='tensor')
    assert fast._forward.autocast_dtype == torch.float16
    assert not fast._forward.channels_last  # off on CUDA by default
    assert fast.backbone.conv1.weight.dtype == torch.float16
    assert logits.dtype == torch.float32 and logits.shape == expected.shape
    scale = expected.abs().max()
    assert (logits - expected).abs().max() <= 0.05 * scale
    agreement = (logits.argmax(1) == expected.argmax(1)).float().mean()
    assert agreement >= 0.95, f'argmax agreement {agreement:.4f}'


@requires_cuda
def test_graph_replays_the_forward(demo_model):
    model = prepare_for_inference(
        copy.deepcopy(demo_model).cuda(), torch.float16)
    first, second = (smooth_inputs(1, 64, 96, seed=s).cuda() for s in (1, 2))
    forward = CUDAGraphForward(model, first)
    with torch.no_grad():
        expected = [model._forward(x) for x in (first, second)]
    for x, want in zip((first, second), expected):
        torch.testing.assert_close(forward(x), want, rtol=1e-3, atol=1e-3)
    assert not torch.equal(expected[0], expected[1])
    with pytest.raises(ValueError, match=r'captured for inputs of shape '
                       r'\[1, 3, 64, 96\]'):
        forward(smooth_inputs(1, 64, 128).cuda())


@requires_cuda
def test_graph_keeps_the_model_alive(demo_model):
    model = prepare_for_inference(
        copy.deepcopy(demo_model).cuda(), torch.float16)
    x = smooth_inputs(1, 64, 96).cuda()
    with torch.no_grad():
        expected = model._forward(x)
    forward = CUDAGraphForward(model, x)
    del model
    gc.collect()
    junk = [torch.full((1 << 20, ), 7.0, device='cuda') for _ in range(64)]
    torch.testing.assert_close(forward(x), expected, rtol=1e-3, atol=1e-3)
    del junk
