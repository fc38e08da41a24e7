"""Tests of OCRPlusHead: shapes, gradients, MMSeg parity, options, numerics.

The aux head is chained first, as MMSeg's ``test_ocr_head.py`` does.
"""
import pytest
import torch
import torch.nn.functional as F
from mmseg.models.decode_heads import FCNHead, OCRHead

import mmseg_ocr_plus  # noqa: F401  (registers the heads)
from mmseg_ocr_plus.models.decode_heads import (
    OCRPlusHead,
    SoftRegionHead,
    ocr_plus_head,
)
from mmseg_ocr_plus.models.utils import PointwiseConv2d, transform_key

BN = dict(type='BN', requires_grad=True)
IN_CH, C, CK, K = 32, 16, 8, 19


def make_heads(**ocr_kwargs):
    ocr_kwargs.setdefault('dropout_ratio', -1)
    torch.manual_seed(0)
    aux = SoftRegionHead(
        in_channels=IN_CH,
        channels=IN_CH,
        num_classes=K,
        kernel_size=1,
        num_convs=1,
        concat_input=False,
        dropout_ratio=-1,
        norm_cfg=BN)
    ocr = OCRPlusHead(
        in_channels=IN_CH,
        channels=C,
        ocr_channels=CK,
        num_classes=K,
        norm_cfg=BN,
        **ocr_kwargs)
    randomize_bn(aux)
    randomize_bn(ocr)
    return aux, ocr


def randomize_bn(module):
    """Non-trivial BN affine parameters and running statistics."""
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=g) + 0.5
            m.bias.data = torch.randn(n, generator=g) * 0.1
            m.running_mean = torch.randn(n, generator=g) * 0.1
            m.running_var = torch.rand(n, generator=g) + 0.5


def reference_ocr(head, x, prev_output):
    """OCR as the paper and the official code write it: f_up on every
    pixel, concatenation before the fuse, query pooled before f_pixel.

    Args:
        head (OCRPlusHead): provides the weights.
        x (Tensor): [B, in_channels, H, W] transformed features.
        prev_output (Tensor): [B, K, H, W] soft-region logits.
    """
    block = head.object_context_block
    feats = head.bottleneck(x)  # [B, C, H, W]
    B, _, H, W = feats.shape
    probs = F.softmax(
        head.spatial_gather_module.scale * prev_output.flatten(2), dim=2)
    regions = torch.einsum('bkn,bcn->bck', probs, feats.flatten(2))
    regions = regions.unsqueeze(3)  # [B, C, K, 1]
    query_in = feats
    if block.query_pool > 1:
        query_in = F.max_pool2d(feats, block.query_pool)
    h, w = query_in.shape[2:]
    query = block.query_project(query_in).flatten(2)  # [B, Ck, N]
    key = block.key_project(regions).flatten(2)  # [B, Ck, K]
    value = block.value_project(regions).flatten(2)  # [B, Ck, K]
    sim = torch.einsum('bcn,bck->bnk', query, key) * block.channels**-0.5
    sim = F.softmax(sim, dim=2)  # [B, N, K]
    context = torch.einsum('bnk,bck->bcn', sim, value).reshape(B, -1, h, w)
    context = block.out_project(context)  # f_up on every pixel
    if block.query_pool > 1:
        context = F.interpolate(
            context, (H, W),
            mode='bilinear',
            align_corners=block.align_corners)
    out = block.bottleneck(torch.cat([context, feats], dim=1))
    return head.cls_seg(out)


def test_shapes():
    aux, ocr = make_heads()
    inputs = [torch.randn(1, IN_CH, 45, 45)]
    prev = aux(inputs)
    assert prev.shape == (1, K, 45, 45)
    out = ocr(inputs, prev)
    assert out.shape == (1, K, 45, 45)
    regions = ocr.spatial_gather_module(ocr.bottleneck(inputs[0]), prev)
    assert regions.shape == (1, C, K, 1)


def test_only_per_pixel_ocr_convs_run_as_matrix_products():
    """Query projection and fuse (``fuse`` calls ``conv1x1``) are products;
    the convs whose rounding reaches the softmaxes stay oneDNN convs, as in
    MMSeg (see ``pointwise_conv``)."""
    aux, ocr = make_heads()
    block = ocr.object_context_block
    assert [type(m.conv) for m in block.query_project] == [PointwiseConv2d] * 2
    kept = [*block.key_project, block.value_project, block.out_project,
            block.bottleneck, *aux.convs]
    assert all(type(m.conv) is torch.nn.Conv2d for m in kept)
    assert type(ocr.conv_seg) is type(aux.conv_seg) is torch.nn.Conv2d


@pytest.mark.parametrize(
    'kwargs', [{},
               dict(query_pool=2),
               dict(conv_bias=True, bottleneck_bias=True)])
def test_every_parameter_gets_a_gradient(kwargs):
    aux, ocr = make_heads(**kwargs)
    aux.train()
    ocr.train()
    inputs = [torch.randn(2, IN_CH, 33, 47)]
    out = ocr(inputs, aux(inputs))
    (out.square().mean() + aux(inputs).square().mean()).backward()
    for name, p in list(aux.named_parameters()) + list(
            ocr.named_parameters()):
        assert p.grad is not None, f'{name} received no gradient'
        assert torch.isfinite(p.grad).all(), f'{name} gradient not finite'
        assert p.grad.abs().sum() > 0, f'{name} gradient is all zero'


def build_mmseg_pair():
    """MMSeg's FCNHead + OCRHead with the same weights as ours."""
    aux, ocr = make_heads()
    ref_aux = FCNHead(
        in_channels=IN_CH,
        channels=IN_CH,
        num_classes=K,
        kernel_size=1,
        num_convs=1,
        concat_input=False,
        dropout_ratio=-1,
        norm_cfg=BN)
    ref_ocr = OCRHead(
        in_channels=IN_CH,
        channels=C,
        ocr_channels=CK,
        num_classes=K,
        dropout_ratio=-1,
        norm_cfg=BN)
    ref_aux.load_state_dict(aux.state_dict(), strict=True)
    ref_ocr.load_state_dict(ocr.state_dict(), strict=True)
    return (aux, ocr), (ref_aux, ref_ocr)


@pytest.mark.parametrize('train', [False, True])
def test_parity_with_mmseg_output_and_gradients(train):
    """Same keys, same logits, same gradients as MMSeg's heads."""
    ours, ref = build_mmseg_pair()
    inputs = [torch.randn(2, IN_CH, 45, 45)]
    results = []
    for aux, ocr in (ours, ref):
        aux.train(train)
        ocr.train(train)
        out = ocr(inputs, aux(inputs))
        out.square().mean().backward()
        grads = {n: p.grad for n, p in ocr.named_parameters()}
        results.append((out.detach(), grads))
    (out, grads), (ref_out, ref_grads) = results
    assert out.abs().max() > 0.1  # the comparison is not trivial
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-5)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        torch.testing.assert_close(
            grads[name], ref_grads[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize('query_pool', [1, 2, 4])
@pytest.mark.parametrize('size', [(45, 45), (33, 47)])
@pytest.mark.parametrize('align_corners', [False, True])
def test_matches_reference_formulation(query_pool, size, align_corners):
    """The rewritten f_up, split fuse and query pooling equal the direct
    formulation, for odd feature sizes too."""
    aux, ocr = make_heads(query_pool=query_pool, align_corners=align_corners)
    aux.eval()
    ocr.eval()
    x = torch.randn(2, IN_CH, *size)
    with torch.no_grad():
        prev = aux([x])
        out = ocr([x], prev)
        expected = reference_ocr(ocr, x, prev)
    assert out.shape == (2, K, *size)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_query_pool_changes_output():
    aux, ocr1 = make_heads()
    _, ocr2 = make_heads(query_pool=2)
    ocr2.load_state_dict(ocr1.state_dict())
    for m in (aux, ocr1, ocr2):
        m.eval()
    x = torch.randn(1, IN_CH, 45, 45)
    with torch.no_grad():
        prev = aux([x])
        assert not torch.allclose(ocr1([x], prev), ocr2([x], prev))


def test_gather_temperature_is_separate_from_query_pooling():
    _, ocr = make_heads(gather_scale=3.0)
    assert ocr.spatial_gather_module.scale == 3.0
    assert ocr.object_context_block.query_pool == 1
    feats = torch.randn(2, C, 5, 7)
    logits = torch.randn(2, K, 5, 7)
    regions = ocr.spatial_gather_module(feats, logits)
    # hand-written: region k = sum_n softmax_n(3 * logits_kn) * feats_n
    probs = torch.exp(3.0 * logits.flatten(2))
    probs = probs / probs.sum(dim=2, keepdim=True)
    expected = (feats.flatten(2)[:, :, None, :] *
                probs[:, None, :, :]).sum(-1)
    torch.testing.assert_close(regions.squeeze(3), expected)


def test_conv_bias_options():
    _, plain = make_heads()
    _, biased = make_heads(conv_bias=True, bottleneck_bias=True)
    plain_keys = set(plain.state_dict())
    extra = set(biased.state_dict()) - plain_keys
    block = 'object_context_block.'
    assert extra == {
        'bottleneck.conv.bias',
        *(block + f'{p}.conv.bias' for p in ('query_project.0',
                                              'query_project.1',
                                              'key_project.0',
                                              'key_project.1',
                                              'value_project', 'out_project',
                                              'bottleneck'))
    }
    _, only_bottleneck = make_heads(bottleneck_bias=True)
    assert set(only_bottleneck.state_dict()) - plain_keys == {
        'bottleneck.conv.bias'
    }
    # a non-zero bias enters the output, through the rewritten f_up too
    biased.eval()
    x = torch.randn(1, IN_CH, 9, 9)
    prev = torch.randn(1, K, 9, 9)
    with torch.no_grad():
        before = biased([x], prev)
        biased.object_context_block.out_project.conv.bias.fill_(0.5)
        after = biased([x], prev)
        expected = reference_ocr(biased, x, prev)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected, rtol=1e-5, atol=1e-5)


def test_dropout_ratio_is_dropout2d_before_classifier():
    _, ocr = make_heads(dropout_ratio=0.05)
    assert isinstance(ocr.dropout, torch.nn.Dropout2d)
    assert ocr.dropout.p == 0.05


def test_bad_query_pool():
    with pytest.raises(ValueError, match='query_pool must be an int >= 1'):
        make_heads(query_pool=0)


def test_eval_mode_is_deterministic():
    aux, ocr = make_heads(query_pool=2)
    aux.eval()
    ocr.eval()
    inputs = [torch.randn(2, IN_CH, 45, 45)]
    with torch.no_grad():
        first = ocr(inputs, aux(inputs))
        second = ocr(inputs, aux(inputs))
    assert torch.equal(first, second)


def test_bf16_autocast_step_is_finite_with_fp32_softmax(monkeypatch):
    softmax_dtypes = []
    real_softmax = F.softmax

    def recording_softmax(x, *args, **kwargs):
        softmax_dtypes.append(x.dtype)
        return real_softmax(x, *args, **kwargs)

    monkeypatch.setattr(ocr_plus_head.F, 'softmax', recording_softmax)
    aux, ocr = make_heads(query_pool=2)
    params = list(aux.parameters()) + list(ocr.parameters())
    optim = torch.optim.SGD(params, lr=0.1)
    inputs = [torch.randn(2, IN_CH, 33, 47) * 10]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        prev = aux(inputs)
        out = ocr(inputs, prev)
        assert out.dtype == torch.bfloat16  # autocast is really on
        loss = F.cross_entropy(out.float(), torch.randint(0, K, (2, 33, 47)))
    loss.backward()
    optim.step()
    assert softmax_dtypes == [torch.float32, torch.float32]
    assert torch.isfinite(loss)
    for p in params:
        assert torch.isfinite(p.grad).all() and torch.isfinite(p).all()


# resize_concat heads over four levels, with enough channels in the 4x and
# 8x levels for the low-resolution split to pay
HRNET_LIKE = dict(
    in_channels=[4, 6, 40, 60],
    in_index=(0, 1, 2, 3),
    input_transform='resize_concat',
    num_classes=K,
    dropout_ratio=-1,
    norm_cfg=BN)


def hrnet_like_inputs():
    return [
        torch.randn(2, c, 32 // 2**i, 48 // 2**i, dtype=torch.float64)
        for i, c in enumerate(HRNET_LIKE['in_channels'])
    ]


@pytest.mark.parametrize('train', [False, True])
def test_lowres_convs_equal_direct_convs(train, monkeypatch):
    """HRNet-like resize_concat inputs: the aux head's ``lowres_conv`` and
    the OCR head's ``lowres_bottleneck`` give the plain convs' logits and
    gradients (float64), with the same state dict."""
    from mmseg_ocr_plus.models.utils.upsampled_conv import Resample
    calls = []
    real = Resample.apply
    monkeypatch.setattr(Resample, 'apply',
                        lambda *a: calls.append(1) or real(*a))
    common = HRNET_LIKE
    pairs = []
    for lowres in (True, False):
        torch.manual_seed(0)
        aux = SoftRegionHead(
            channels=16,
            kernel_size=1,
            num_convs=1,
            concat_input=False,
            lowres_conv=lowres,
            **common)
        ocr = OCRPlusHead(
            channels=C, ocr_channels=CK, lowres_bottleneck=lowres, **common)
        for head in (aux, ocr):
            randomize_bn(head)
            head.double().train(train)
        pairs.append((aux, ocr))
    assert pairs[0][0].lowres_conv and pairs[0][1].lowres_bottleneck
    inputs = hrnet_like_inputs()
    outs, caches = [], []
    for aux, ocr in pairs:
        cache = {}  # as OCRCascadeEncoderDecoder shares it
        prev = aux(inputs, cache=cache)
        out = ocr(inputs, prev, cache=cache)
        (out.square().mean() + prev.square().mean()).backward()
        outs.append((prev.detach(), out.detach()))
        caches.append(cache)
    assert len(calls) == 4  # two levels in each head
    # the split heads share the concatenation of levels 0 and 1 only: the
    # 4x and 8x levels are never upsampled
    key = transform_key(pairs[0][0])
    assert list(caches[0]) == [key + ((0, 1), )]
    assert caches[0][key + ((0, 1), )].shape[1] == 10
    assert list(caches[1]) == [key]
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    for head, ref in zip(*pairs):
        assert head.state_dict().keys() == ref.state_dict().keys()
        ref_params = dict(ref.named_parameters())
        for name, p in head.named_parameters():
            torch.testing.assert_close(
                p.grad, ref_params[name].grad, rtol=0, atol=1e-10)


@pytest.mark.parametrize('concat_input', [False, True])
def test_lowres_aux_head_with_more_convs(concat_input):
    heads = []
    for lowres in (True, False):
        torch.manual_seed(0)
        heads.append(
            SoftRegionHead(
                channels=16,
                kernel_size=3,
                num_convs=2,
                concat_input=concat_input,
                lowres_conv=lowres,
                **HRNET_LIKE).double())
    inputs = hrnet_like_inputs()
    outs = [head(inputs) for head in heads]
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-10)


def test_lowres_options_refuse_other_inputs():
    with pytest.raises(ValueError, match='resize_concat'):
        OCRPlusHead(
            in_channels=IN_CH,
            channels=C,
            ocr_channels=CK,
            num_classes=K,
            lowres_bottleneck=True)
    with pytest.raises(ValueError, match='plain nn.Conv2d'):
        SoftRegionHead(
            in_channels=[4, 6],
            in_index=(0, 1),
            input_transform='resize_concat',
            channels=8,
            num_classes=K,
            dilation=2,
            lowres_conv=True)


@pytest.mark.parametrize('query_pool', [1, 2])
@pytest.mark.parametrize('train', [False, True])
def test_channels_last_path_equals_nchw_path(query_pool, train):
    """Channels-last features take the ``[B, N, C]`` matrix path (no layout
    copy) and give the NCHW path's logits, gradients and attention."""
    aux, ocr = make_heads(query_pool=query_pool)
    aux.double().train(train)
    ocr.double().train(train)
    ocr.record_maps = True
    x = torch.randn(2, IN_CH, 33, 47, dtype=torch.float64)
    results = []
    for channels_last in (False, True):
        for module in (aux, ocr):
            module.zero_grad()
            module.to(memory_format=torch.channels_last
                      if channels_last else torch.contiguous_format)
        inputs = x.clone(memory_format=torch.channels_last if channels_last
                         else torch.contiguous_format).requires_grad_(True)
        torch.manual_seed(0)
        prev = aux([inputs])
        out = ocr([inputs], prev)
        assert out.is_contiguous(memory_format=torch.channels_last) == (
            channels_last)
        out.square().sum().backward()
        attention = ocr.recorded_maps['attention']
        grads = [p.grad.clone() for p in ocr.parameters()]
        results.append((out.detach(), attention, inputs.grad, grads))
    (out0, att0, gx0, g0), (out1, att1, gx1, g1) = results
    torch.testing.assert_close(out1, out0)
    torch.testing.assert_close(att1, att0)
    assert att1.shape == att0.shape
    torch.testing.assert_close(gx1, gx0)
    for a, b in zip(g1, g0):
        torch.testing.assert_close(a, b)


def test_channels_last_path_skips_layout_copies(monkeypatch):
    """The gather and the attention read channels-last maps as matrices."""
    _, ocr = make_heads()
    ocr.eval().to(memory_format=torch.channels_last)
    feats = torch.randn(1, C, 16, 24).contiguous(
        memory_format=torch.channels_last)
    logits = torch.randn(1, K, 16, 24)
    seen = []
    real = torch.Tensor.flatten

    def flatten(t, *args, **kwargs):
        if t.dim() == 4 and t.shape[2:] == feats.shape[2:]:
            seen.append(t.is_contiguous())
        return real(t, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, 'flatten', flatten)
    with torch.no_grad():
        regions = ocr.spatial_gather_module(feats, logits)
        ocr.object_context_block(feats, regions)
    # of the pixel maps, only the (contiguous) logits are flattened
    assert seen and all(seen)
