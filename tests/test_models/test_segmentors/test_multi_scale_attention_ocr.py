"""MultiScaleAttentionOCR (https://arxiv.org/abs/2005.10821): OCRNet at one
scale, the two-scale training step and its losses, hierarchical inference
over ``test_cfg.scales`` and ``flip``, bf16 autocast."""
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from test_ocr_cascade_encoder_decoder import K, batch, tiny_ocrnet_cfg

OCR_CHANNELS = 16  # the tiny OCR head's ``channels``


def tiny_hmsa_cfg(**test_cfg):
    cfg = tiny_ocrnet_cfg(ours=True)
    cfg.type = 'MultiScaleAttentionOCR'
    cfg.attention_head = dict(
        type='ScaleAttentionHead', channels=8, norm_cfg=dict(type='BN'))
    cfg.test_cfg = dict(mode='whole', **test_cfg)
    return cfg


def build(**test_cfg):
    torch.manual_seed(0)
    model = MODELS.build(tiny_hmsa_cfg(**test_cfg))
    # Non-trivial BN statistics, so that eval mode is not the identity.
    model.train()
    with torch.no_grad():
        model.loss(*batch())
    return model.eval()


def metas(inputs):
    h, w = inputs.shape[2:]
    return [dict(img_shape=(h, w), ori_shape=(h, w))] * inputs.shape[0]


def up(x, size):
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


def scale_outputs(model, inputs, scale):
    """Last-stage logits and attention of one scale, computed from the
    modules directly (the attention from the OCR head's classifier
    input)."""
    x = inputs if scale == 1 else F.interpolate(
        inputs,
        scale_factor=scale,
        mode='bilinear',
        align_corners=False,
        recompute_scale_factor=True)
    feats = []
    handle = model.decode_head[1].conv_seg.register_forward_hook(
        lambda m, args, out: feats.append(args[0]))
    aux, logits = model.cascade_forward(model.extract_feat(x))
    handle.remove()
    attention = model.attention_head(feats[0])
    size = x.shape[2:]
    return up(aux, size), up(logits, size), up(attention, size)


def test_state_dict_is_ocrnet_plus_attention_head():
    model = build()
    torch.manual_seed(0)
    ocrnet = MODELS.build(tiny_ocrnet_cfg(ours=True))
    extra = set(model.state_dict()) - set(ocrnet.state_dict())
    assert set(ocrnet.state_dict()) <= set(model.state_dict())
    assert extra and all(k.startswith('attention_head.') for k in extra)
    assert model.attention_head.in_channels == OCR_CHANNELS


def test_one_scale_gives_the_ocrnet_logits():
    model = build(scales=[1.0])
    ocrnet = MODELS.build(tiny_ocrnet_cfg(ours=True)).eval()
    state = {
        k: v
        for k, v in model.state_dict().items()
        if not k.startswith('attention_head.')
    }
    ocrnet.load_state_dict(state, strict=True)
    inputs, samples = batch()
    with torch.no_grad():
        ours = model.predict(inputs, [s.clone() for s in samples])
        theirs = ocrnet.predict(inputs, [s.clone() for s in samples])
    for a, b in zip(ours, theirs):
        assert torch.equal(a.seg_logits.data, b.seg_logits.data)


@pytest.mark.parametrize('scales', [[0.5, 1.0], [1.0, 2.0], [0.5, 1.0, 2.0],
                                    [1.0, 0.75, 1.5]])
def test_inference_is_the_hierarchical_formula(scales):
    model = build(scales=scales)
    model.record_attention = True
    inputs, _ = batch(h=64, w=96)
    with torch.no_grad():
        out = model.encode_decode(inputs, metas(inputs))
        outs = {s: scale_outputs(model, inputs, s) for s in scales}
    # Largest first; s >= 1 downsamples the running prediction, s < 1
    # upsamples its attention-weighted logits and its attention.
    order = sorted(scales, reverse=True)
    pred = outs[order[0]][1]
    for s in order[1:]:
        _, p, a = outs[s]
        if s >= 1:
            pred = a * p + (1 - a) * up(pred, p.shape[2:])
        else:
            pred = up(a * p, pred.shape[2:]) + (
                1 - up(a, pred.shape[2:])) * pred
    assert out.shape == (2, K, 64, 96)
    torch.testing.assert_close(out, pred, rtol=1e-5, atol=1e-5)
    # The attention of every scale but the largest, as used above.
    assert set(model.recorded_attention) == set(order[1:])
    for s, attention in model.recorded_attention.items():
        torch.testing.assert_close(attention, outs[s][2])


def test_test_cfg_is_read_at_call_time_and_flip_averages_logits():
    model = build(scales=[1.0])
    calls = dict(backbone=0, aux=0)
    model.backbone.register_forward_hook(
        lambda *_: calls.__setitem__('backbone', calls['backbone'] + 1))
    model.decode_head[0].register_forward_hook(
        lambda *_: calls.__setitem__('aux', calls['aux'] + 1))
    inputs, _ = batch(h=64, w=96)
    with torch.no_grad():
        plain = model.encode_decode(inputs, metas(inputs))
        mirrored = model.encode_decode(inputs.flip(3), metas(inputs))
        assert calls == dict(backbone=2, aux=2)
        model.test_cfg.scales = [0.5, 1.0, 2.0]
        model.encode_decode(inputs, metas(inputs))
        assert calls == dict(backbone=5, aux=5)  # once per scale
        model.test_cfg.scales = [1.0]
        model.test_cfg.flip = True
        flipped = model.encode_decode(inputs, metas(inputs))
    torch.testing.assert_close(flipped, (mirrored.flip(3) + plain) / 2)
    model.test_cfg.scales = [0.5, 2.0]
    with pytest.raises(ValueError, match='including 1.0'):
        model.encode_decode(inputs, metas(inputs))


@pytest.mark.parametrize('scale_loss_weight', [0.05, 0.0])
def test_losses_are_the_joint_and_per_scale_formulas(scale_loss_weight):
    model = build()
    model.scale_loss_weight = scale_loss_weight
    inputs, samples = batch(h=64, w=96)
    labels = torch.stack([s.gt_sem_seg.data[0] for s in samples])
    with torch.no_grad():  # eval mode: BN statistics stay as they are
        losses = model.loss(inputs, samples)
        aux1, p1, _ = scale_outputs(model, inputs, 1.0)
        aux05, p05, a05 = scale_outputs(model, inputs, 0.5)
    size = inputs.shape[2:]
    a = up(a05, size)
    joint = up(a05 * p05, size) + (1 - a) * p1
    joint_aux = up(a05 * aux05, size) + (1 - a) * aux1
    ce = F.cross_entropy
    expected = {
        'decode_0.loss_ce': 0.4 * ce(joint_aux, labels, ignore_index=255),
        'decode_1.loss_ce': ce(joint, labels, ignore_index=255),
    }
    if scale_loss_weight:
        expected['scale1x.loss_ce'] = 0.05 * ce(p1, labels)
        expected['scale0.5x.loss_ce'] = 0.05 * ce(up(p05, size), labels)
    found = {k: v for k, v in losses.items() if 'loss' in k}
    assert set(found) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(found[key], value, msg=key)


def test_training_step_reaches_every_parameter():
    model = build().train()
    inputs, samples = batch(h=64, w=96)
    losses = model.loss(inputs, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    for name, param in model.attention_head.named_parameters():
        assert param.grad.abs().sum() > 0, name


def test_bf16_autocast_loss_and_inference():
    model = build(scales=[0.5, 1.0, 2.0])
    inputs, samples = batch(h=64, w=96)
    with torch.no_grad():
        reference = model.encode_decode(inputs, metas(inputs))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        with torch.no_grad():
            out = model.encode_decode(inputs, metas(inputs))
        model.train()
        losses = model.loss(inputs, samples)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    spread = reference.abs().max()
    assert (out - reference).abs().max() < 0.1 * spread
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.attention_head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_bad_arguments_raise():
    cfg = tiny_hmsa_cfg()
    cfg.train_low_scale = 1.0
    with pytest.raises(ValueError, match='train_low_scale'):
        MODELS.build(cfg)
    cfg = tiny_hmsa_cfg()
    cfg.auxiliary_head = dict(type='FCNHead')
    with pytest.raises(ValueError, match='auxiliary_head'):
        MODELS.build(cfg)


def test_channels_last_covers_the_attention_head():
    cfg = tiny_hmsa_cfg()
    cfg.channels_last = True
    model = MODELS.build(cfg)
    convs = [
        m.weight for m in model.attention_head.modules()
        if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)
    ]
    assert convs and all(
        w.is_contiguous(memory_format=torch.channels_last) for w in convs)
