"""OCRCascadeEncoderDecoder: one pass per stage, shared input transform, the
same losses and gradients as MMSeg's CascadeEncoderDecoder."""
import copy

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

BN = dict(type='BN', requires_grad=True)
HR_CH = [4, 8, 16, 32]
K = 5


def tiny_ocrnet_cfg(ours: bool = True) -> ConfigDict:
    """A small HRNet OCRNet; ``ours=False`` gives MMSeg's own modules."""
    extra = dict(
        stage1=dict(
            num_modules=1,
            num_branches=1,
            block='BOTTLENECK',
            num_blocks=(1, ),
            num_channels=(8, )),
        stage2=dict(
            num_modules=1,
            num_branches=2,
            block='BASIC',
            num_blocks=(1, 1),
            num_channels=tuple(HR_CH[:2])),
        stage3=dict(
            num_modules=1,
            num_branches=3,
            block='BASIC',
            num_blocks=(1, 1, 1),
            num_channels=tuple(HR_CH[:3])),
        stage4=dict(
            num_modules=1,
            num_branches=4,
            block='BASIC',
            num_blocks=(1, 1, 1, 1),
            num_channels=tuple(HR_CH)))
    common = dict(
        in_channels=HR_CH,
        in_index=(0, 1, 2, 3),
        input_transform='resize_concat',
        dropout_ratio=-1,
        num_classes=K,
        norm_cfg=BN,
        align_corners=False)
    return ConfigDict(
        type='OCRCascadeEncoderDecoder' if ours else 'CascadeEncoderDecoder',
        num_stages=2,
        data_preprocessor=dict(type='SegDataPreProcessor'),
        backbone=dict(type='HRNet', norm_cfg=BN, extra=extra),
        decode_head=[
            dict(
                type='SoftRegionHead' if ours else 'FCNHead',
                channels=sum(HR_CH),
                kernel_size=1,
                num_convs=1,
                concat_input=False,
                loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4),
                **common),
            dict(
                type='OCRPlusHead' if ours else 'OCRHead',
                channels=16,
                ocr_channels=8,
                loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0),
                **common),
        ],
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


def build_pair():
    torch.manual_seed(0)
    ours = MODELS.build(tiny_ocrnet_cfg(ours=True))
    stock = MODELS.build(tiny_ocrnet_cfg(ours=False))
    stock.load_state_dict(ours.state_dict(), strict=True)
    return ours, stock


def batch(n=2, h=64, w=96):
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(n, 3, h, w, generator=g)
    samples = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        label = torch.randint(0, K, (1, h, w), generator=g)
        s.gt_sem_seg = PixelData(data=label)
        samples.append(s)
    return inputs, samples


def count_calls(model):
    """Count aux classifier runs and input transforms during one loss."""
    counts = dict(aux=0, transform=0)
    model.decode_head[0].conv_seg.register_forward_hook(
        lambda *_: counts.__setitem__('aux', counts['aux'] + 1))
    for head in model.decode_head:
        original = head._transform_inputs

        def counted(inputs, original=original):
            counts['transform'] += 1
            return original(inputs)

        head._transform_inputs = counted
    return counts


def test_aux_head_and_transform_run_once_per_step():
    ours, stock = build_pair()
    inputs, samples = batch()
    ours_counts, stock_counts = count_calls(ours), count_calls(stock)
    ours.loss(inputs, samples)
    stock.loss(inputs, samples)
    assert stock_counts == dict(aux=2, transform=3)  # MMSeg's behaviour
    assert ours_counts == dict(aux=1, transform=1)


def test_ocr_head_gets_the_aux_loss_tensor_with_its_gradient():
    ours, _ = build_pair()
    aux, ocr = ours.decode_head
    seen = {}
    aux_loss_by_feat, ocr_forward = aux.loss_by_feat, ocr.forward

    def record_aux(seg_logits, samples):
        seen['aux'] = seg_logits
        return aux_loss_by_feat(seg_logits, samples)

    def record_ocr(inputs, prev_output, **kwargs):
        seen['prev'] = prev_output
        return ocr_forward(inputs, prev_output, **kwargs)

    aux.loss_by_feat, ocr.forward = record_aux, record_ocr
    ours.loss(*batch())
    assert seen['prev'] is seen['aux']
    assert seen['prev'].requires_grad


def test_losses_and_gradients_equal_mmseg():
    ours, stock = build_pair()
    inputs, samples = batch()
    results = []
    for model in (ours, stock):
        model.train()
        losses = model.loss(inputs, copy.deepcopy(samples))
        sum(losses.values()).backward()
        results.append((losses, {
            n: p.grad
            for n, p in model.named_parameters()
        }))
    (losses, grads), (ref_losses, ref_grads) = results
    assert losses.keys() == ref_losses.keys()
    for key in losses:
        torch.testing.assert_close(losses[key], ref_losses[key], msg=key)
    for name, grad in grads.items():
        assert grad is not None, name
        torch.testing.assert_close(
            grad, ref_grads[name], rtol=1e-3, atol=1e-5, msg=name)


def test_predict_and_tensor_mode():
    ours, stock = build_pair()
    ours.eval()
    stock.eval()
    inputs, samples = batch(h=64, w=96)
    with torch.no_grad():
        preds = ours.predict(inputs, samples)
        ref = stock.predict(inputs, samples)
        logits = ours(inputs, mode='tensor')
    assert logits.shape == (2, K, 16, 24)
    for p, r in zip(preds, ref):
        assert p.pred_sem_seg.data.shape == (1, 64, 96)
        torch.testing.assert_close(
            p.seg_logits.data, r.seg_logits.data, rtol=0, atol=1e-5)


class PlainCascadeHead(BaseDecodeHead):
    """A third stage without ``shares_transform``: called as MMSeg calls
    heads, ``forward(inputs, prev_output)``."""

    def forward(self, inputs, prev_output):
        return self.conv_seg(self._transform_inputs(inputs)) + prev_output


def test_heads_without_shared_transform_still_cascade():
    model = MODELS.build(tiny_ocrnet_cfg())
    model.decode_head.append(
        PlainCascadeHead(
            in_channels=HR_CH[0],
            channels=HR_CH[0],
            num_classes=K,
            in_index=0))
    model.num_stages = 3
    inputs, _ = batch(n=1)
    outs = model.cascade_forward(model.extract_feat(inputs))
    assert [o.shape for o in outs] == [(1, K, 16, 24)] * 3
    torch.testing.assert_close(
        outs[2] - outs[1],
        model.decode_head[2].conv_seg(model.extract_feat(inputs)[0]))


@pytest.mark.parametrize('mode', ['loss', 'predict'])
def test_bf16_autocast_is_finite(mode):
    ours, _ = build_pair()
    ours.train(mode == 'loss')
    inputs, samples = batch()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = ours(inputs, samples, mode=mode)
    if mode == 'loss':
        loss = sum(out.values())
        loss.backward()
        assert torch.isfinite(loss)
        for name, p in ours.named_parameters():
            assert torch.isfinite(p.grad).all(), name
    else:
        assert all(torch.isfinite(s.seg_logits.data).all() for s in out)


def assert_same_losses_and_gradients(reference, model, **tolerances):
    """One training step of each on the same batch: equal losses and
    parameter gradients."""
    inputs, samples = batch()
    results = []
    for m in (reference, model):
        m.train()
        losses = m.loss(inputs, copy.deepcopy(samples))
        sum(losses.values()).backward()
        results.append((losses, dict(m.named_parameters())))
    (ref_losses, ref_params), (losses, params) = results
    for key in ref_losses:
        torch.testing.assert_close(losses[key], ref_losses[key], msg=key)
    for name, param in params.items():
        torch.testing.assert_close(
            param.grad, ref_params[name].grad, msg=name, **tolerances)


def test_channels_last_training_equals_default_layout():
    """``channels_last=True``: channels-last weights (kept through a
    state-dict load), the same losses and gradients as the default layout."""
    torch.manual_seed(0)
    default = MODELS.build(tiny_ocrnet_cfg())
    cfg = tiny_ocrnet_cfg()
    cfg.channels_last = True
    fast = MODELS.build(cfg)
    fast.load_state_dict(default.state_dict())
    conv = fast.decode_head[1].bottleneck.conv
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()
    inputs, _ = batch()
    assert_same_losses_and_gradients(default, fast, rtol=1e-3, atol=1e-5)
    fast.eval()
    with torch.no_grad():
        assert fast._forward(inputs).is_contiguous(
            memory_format=torch.channels_last)


def test_with_cp_modules_checkpoint_only_those_blocks():
    torch.manual_seed(0)
    default = MODELS.build(tiny_ocrnet_cfg())
    cfg = tiny_ocrnet_cfg()
    cfg.with_cp_modules = ['backbone.layer1']
    model = MODELS.build(cfg)
    model.load_state_dict(default.state_dict())
    assert all(block.with_cp for block in model.backbone.layer1)
    assert not any(
        m.with_cp for m in model.backbone.stage2.modules()
        if hasattr(m, 'with_cp'))
    assert_same_losses_and_gradients(default, model)
    cfg.with_cp_modules = ['backbone.no_such_layer']
    with pytest.raises(ValueError, match='no_such_layer'):
        MODELS.build(cfg)
