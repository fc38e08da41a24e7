"""Tests of ASPOCRHead: shapes, branches as the reference, gradients, and a
cascade after SoftRegionHead (aux head first, as MMSeg's tests chain it)."""
import pytest
import torch
from mmseg.registry import MODELS

from mmseg_ocr_plus.models.decode_heads import ASPOCRHead, SoftRegionHead
from mmseg_ocr_plus.models.utils import shared_transform_inputs

BN = dict(type='BN', requires_grad=True)
IN_CH, K = 32, 19


def make_heads(**kwargs):
    torch.manual_seed(0)
    aux = SoftRegionHead(
        in_channels=IN_CH,
        channels=16,
        num_classes=K,
        kernel_size=1,
        num_convs=1,
        concat_input=False,
        norm_cfg=BN)
    kwargs = dict(
        dict(
            in_channels=IN_CH,
            channels=24,
            hidden_channels=16,
            ocr_channels=8,
            dilations=(2, 4, 6),
            num_classes=K,
            norm_cfg=BN), **kwargs)
    return aux, ASPOCRHead(**kwargs)


def test_shapes_and_branches():
    aux, head = make_heads()
    inputs = [torch.randn(2, IN_CH, 45, 45)]
    prev = aux(inputs)
    assert prev.shape == (2, K, 45, 45)
    assert head(inputs, prev).shape == (2, K, 45, 45)
    # a coarser previous stage is resized to the features
    assert head(inputs, prev[:, :, ::2, ::2]).shape == (2, K, 45, 45)
    # context + 1x1 + three dilated 3x3 branches, concatenated
    assert head.bottleneck.conv.in_channels == 5 * 16
    assert head.bottleneck.conv.out_channels == 24
    assert [c.conv.dilation for c in head.aspp_convs] == [(1, 1), (2, 2),
                                                          (4, 4), (6, 6)]
    assert head.aspp_convs[0].conv.kernel_size == (1, 1)
    assert head.context_conv.conv.kernel_size == (3, 3)
    attention = head.object_attention
    assert attention.channels == 8  # key width
    assert not hasattr(attention, 'bottleneck')  # no fuse in this branch
    assert isinstance(head.dropout, torch.nn.Dropout2d)


def test_context_branch_is_the_attention_only():
    """The context branch output is f_up(softmax(q k^T) v), the reference's
    SpatialOCR_Context, computed here without the block's own forward."""
    _, head = make_heads()
    head.eval()
    x = torch.randn(1, IN_CH, 9, 11)
    prev = torch.randn(1, K, 9, 11)
    feats = head.context_conv(x)
    block = head.object_attention
    probs = prev.flatten(2).softmax(2)  # [1, K, N]
    regions = (feats.flatten(2) @ probs.transpose(1, 2)).unsqueeze(3)
    query = block.query_project(feats).flatten(2)  # [1, Ck, N]
    key = block.key_project(regions).flatten(2)  # [1, Ck, K]
    value = block.value_project(regions).flatten(2)  # [1, Ck, K]
    sim = (key.transpose(1, 2) @ query * 8**-0.5).softmax(1)  # [1, K, N]
    context = block.out_project((value @ sim).view(1, -1, 9, 11))
    regions_ours = head.spatial_gather_module(feats, prev)
    torch.testing.assert_close(block(feats, regions_ours), context)


def test_every_parameter_gets_a_gradient():
    aux, head = make_heads(dropout_ratio=0.1)
    inputs = [torch.randn(2, IN_CH, 17, 19)]
    cache = {}
    prev = aux(inputs, cache=cache)
    out = head(inputs, prev, cache=cache)
    assert len(cache) == 1  # one transform for both heads
    (out.square().mean() + prev.square().mean()).backward()
    for name, p in list(aux.named_parameters()) + list(
            head.named_parameters()):
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_resize_concat_inputs_share_the_transform():
    _, head = make_heads(
        in_channels=[8, 16], in_index=(0, 1), input_transform='resize_concat')
    aux = SoftRegionHead(
        in_channels=[8, 16],
        in_index=(0, 1),
        input_transform='resize_concat',
        channels=24,
        num_classes=K,
        kernel_size=1,
        num_convs=1,
        concat_input=False,
        norm_cfg=BN)
    inputs = [torch.randn(1, 8, 16, 16), torch.randn(1, 16, 8, 8)]
    cache = {}
    out = head(inputs, aux(inputs, cache=cache), cache=cache)
    assert out.shape == (1, K, 16, 16) and torch.isfinite(out).all()
    x = shared_transform_inputs(head, inputs, cache)
    assert x.shape == (1, 24, 16, 16)


@pytest.mark.parametrize('dilations', [(12, 24, 36), (24, 48, 72)])
def test_registered_with_reference_dilations(dilations):
    head = MODELS.build(
        dict(
            type='ASPOCRHead',
            in_channels=IN_CH,
            channels=256,
            dilations=dilations,
            num_classes=K,
            norm_cfg=BN))
    assert head.hidden_channels == 256 and head.ocr_channels == 128
    assert head.bottleneck.conv.in_channels == 1280
    assert [c.conv.dilation[0] for c in head.aspp_convs[1:]] == list(dilations)
