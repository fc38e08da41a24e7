"""Tests for :mod:`mmseg_ocr_plus.compat.mmcv_ops` (the stand-in is
exercised where mmcv-lite is installed; its gate everywhere)."""
import importlib
import importlib.machinery
import importlib.util
import math
import sys

import pytest
import torch
import torch.nn.functional as F

from mmseg_ocr_plus.compat import MissingOpError, mmcv_ops

STAND_IN_ACTIVE = mmcv_ops.install()
requires_stand_in = pytest.mark.skipif(
    not STAND_IN_ACTIVE, reason='full mmcv is installed: no mmcv.ops stand-in'
)
requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs CUDA'
)


def test_stand_in_left_out_with_full_mmcv(monkeypatch, fake_find_spec):
    import mmcv

    monkeypatch.delitem(sys.modules, 'mmcv.ops', raising=False)
    monkeypatch.delattr(mmcv, 'ops', raising=False)
    fake_find_spec('mmcv._ext', True)
    assert not mmcv_ops.install()
    assert 'mmcv.ops' not in sys.modules
    assert 'ops' not in vars(mmcv)


@requires_stand_in
def test_mmseg_models_import_through_stand_in():
    import mmcv
    import mmseg.models  # noqa: F401

    focal_loss = importlib.import_module('mmseg.models.losses.focal_loss')
    point_sample = importlib.import_module('mmseg.models.utils.point_sample')
    assert mmcv.ops is sys.modules['mmcv.ops']
    assert focal_loss._sigmoid_focal_loss is mmcv_ops.sigmoid_focal_loss
    assert point_sample.point_sample is mmcv_ops.point_sample


@requires_stand_in
def test_missing_op_names_op_and_install_command():
    import mmcv.ops

    with pytest.raises(MissingOpError) as error:
        from mmcv.ops import DeformConv2d  # noqa: F401
    assert isinstance(error.value, ModuleNotFoundError)
    assert 'mmcv.ops.DeformConv2d' in str(error.value)
    assert mmcv_ops.MMCV_INSTALL_COMMAND in str(error.value)

    # Attribute access and hasattr say the same.
    with pytest.raises(MissingOpError, match=r'mmcv\.ops\.RoIAlign needs'):
        mmcv.ops.RoIAlign  # noqa: B018
    with pytest.raises(MissingOpError):
        hasattr(mmcv.ops, 'nms')
    # MMEngine's optional lookups catch it as an ImportError.
    from mmengine.utils import get_object_from_string
    assert get_object_from_string('mmcv.ops.nms') is None
    # Import-system probes see a plain module that is not a package.
    assert not hasattr(mmcv.ops, '__path__')
    with pytest.raises(ImportError):
        import mmcv.ops.multi_scale_deform_attn


@requires_stand_in
@pytest.mark.parametrize(
    'head, op',
    [
        ({'type': 'CCHead'}, 'CrissCrossAttention'),
        ({'type': 'PSAHead', 'mask_size': (9, 9)}, 'PSAMask'),
    ],
)
def test_building_head_with_missing_op_says_what_to_install(head, op):
    import mmseg.models  # noqa: F401
    from mmseg.registry import MODELS

    cfg = dict(head, in_channels=8, channels=4, num_classes=3)
    with pytest.raises(MissingOpError) as error:
        MODELS.build(cfg)
    assert f'mmcv.ops.{op}' in str(error.value)
    assert mmcv_ops.MMCV_INSTALL_COMMAND in str(error.value)


def test_point_sample_hand_checked():
    feats = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])  # [1, 1, 2, 2]
    # (x, y): pixel centres sit at 0.25 and 0.75, the middle at 0.5.
    points = torch.tensor([[[0.25, 0.25], [0.75, 0.25], [0.5, 0.5]]])
    out = mmcv_ops.point_sample(feats, points)  # [1, 1, 3]
    torch.testing.assert_close(out, torch.tensor([[[0.0, 1.0, 1.5]]]))
    # With align_corners the corner pixels' centres sit at 0 and 1.
    points = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.5, 0.0]]])
    out = mmcv_ops.point_sample(feats, points, align_corners=True)
    torch.testing.assert_close(out, torch.tensor([[[0.0, 3.0, 0.5]]]))


def _bilinear_reference(feats, points, align_corners):
    """Bilinear sampling with zero padding, one point at a time."""
    n, c, h, w = feats.shape
    out = torch.zeros(n, c, points.size(1), dtype=feats.dtype)
    for b in range(n):
        for i, (x, y) in enumerate(points[b].tolist()):
            if align_corners:
                px, py = x * (w - 1), y * (h - 1)
            else:
                px, py = x * w - 0.5, y * h - 0.5
            x0, y0 = math.floor(px), math.floor(py)
            for xi, yi in (
                (x0, y0),
                (x0 + 1, y0),
                (x0, y0 + 1),
                (x0 + 1, y0 + 1),
            ):
                if 0 <= xi < w and 0 <= yi < h:
                    weight = (1 - abs(px - xi)) * (1 - abs(py - yi))
                    out[b, :, i] += weight * feats[b, :, yi, xi]
    return out


@pytest.mark.parametrize('align_corners', [False, True])
def test_point_sample_matches_bilinear_reference(align_corners):
    torch.manual_seed(0)
    feats = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    points = torch.rand(2, 11, 2, dtype=torch.float64)
    out = mmcv_ops.point_sample(feats, points, align_corners=align_corners)
    assert out.shape == (2, 3, 11)
    torch.testing.assert_close(
        out, _bilinear_reference(feats, points, align_corners)
    )
    # A [N, Hg, Wg, 2] grid of the same points gives [N, C, Hg, Wg].
    grid_out = mmcv_ops.point_sample(
        feats, points.view(2, 1, 11, 2), align_corners=align_corners
    )
    torch.testing.assert_close(grid_out, out.view(2, 3, 1, 11))


def _focal_by_hand(logits, targets, gamma, alpha, weight=None):
    """mmcv's sigmoid focal loss ('none'), element by element."""
    rows = []
    for row, t in zip(logits, targets):
        out = []
        for c, x in enumerate(row):
            p = 1 / (1 + math.exp(-x))
            if c == t:
                loss = -alpha * (1 - p) ** gamma * math.log(p)
            else:
                loss = -(1 - alpha) * p**gamma * math.log(1 - p)
            out.append(loss * (1 if weight is None else weight[t]))
        rows.append(out)
    return torch.tensor(rows, dtype=torch.float64)


def test_sigmoid_focal_loss_hand_computed():
    logits = [[0.0, math.log(3.0), -1.0], [2.0, -0.5, 0.3], [1.0, 0.0, -2.0]]
    # Row 1 is a background label (== C), row 2 an ignore label (255): no
    # class is positive in either.
    targets = [1, 3, 255]
    input = torch.tensor(logits, dtype=torch.float64)
    target = torch.tensor(targets)
    expected = _focal_by_hand(logits, targets, gamma=2.0, alpha=0.25)
    # p = (0.5, 0.75) in row 0: 0.75 * 0.5**2 * ln 2 and 0.25 * 0.25**2 *
    # ln(4/3).
    assert expected[0, 0].item() == pytest.approx(0.1875 * math.log(2))
    assert expected[0, 1].item() == pytest.approx(0.015625 * math.log(4 / 3))
    loss = mmcv_ops.sigmoid_focal_loss(input, target, 2.0, 0.25, None, 'none')
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(
        mmcv_ops.sigmoid_focal_loss(input, target, 2.0, 0.25, None, 'sum'),
        expected.sum(),
    )
    # 'mean' divides by the number of rows, not by rows * classes.
    torch.testing.assert_close(
        mmcv_ops.sigmoid_focal_loss(input, target), expected.sum() / 3
    )


def test_sigmoid_focal_loss_weights_rows_by_target_class():
    logits = [[0.5, -1.0, 2.0], [-0.3, 0.8, 0.1]]
    targets, weight = [2, 0], [0.5, 2.0, 3.0]
    loss = mmcv_ops.sigmoid_focal_loss(
        torch.tensor(logits, dtype=torch.float64),
        torch.tensor(targets),
        gamma=1.5,
        alpha=0.4,
        weight=torch.tensor(weight, dtype=torch.float64),
        reduction='none',
    )
    expected = _focal_by_hand(logits, targets, 1.5, 0.4, weight)
    torch.testing.assert_close(loss, expected)
    # mmcv would read weight[255] out of bounds; refuse instead.
    with pytest.raises(ValueError, match=r'\[0, 3\).*\[255\]'):
        mmcv_ops.sigmoid_focal_loss(
            torch.zeros(2, 3),
            torch.tensor([0, 255]),
            weight=torch.ones(3),
        )


def test_sigmoid_focal_loss_rejects_bad_inputs():
    with pytest.raises(TypeError, match='int64 target'):
        mmcv_ops.sigmoid_focal_loss(torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(ValueError, match=r'target of shape \[2\]'):
        mmcv_ops.sigmoid_focal_loss(torch.zeros(2, 3), torch.zeros(3).long())
    with pytest.raises(ValueError, match=r'weight of shape \[3\]'):
        mmcv_ops.sigmoid_focal_loss(
            torch.zeros(2, 3), torch.zeros(2).long(), weight=torch.ones(2)
        )


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_sigmoid_focal_loss_gradient(reduction):
    torch.manual_seed(0)
    input = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0, 2, 3, 1])
    weight = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    target_in_range = torch.tensor([0, 2, 1, 1])
    assert torch.autograd.gradcheck(
        lambda x: mmcv_ops.sigmoid_focal_loss(
            x, target, 2.0, 0.25, None, reduction
        ),
        (input,),
    )
    assert torch.autograd.gradcheck(
        lambda x: mmcv_ops.sigmoid_focal_loss(
            x, target_in_range, 2.0, 0.25, weight, reduction
        ),
        (input,),
    )


def test_sigmoid_focal_loss_keeps_gradient_of_confident_mistakes():
    # sigmoid(30) == 1 in float32: the loss saturates at the FLT_MIN clamp,
    # but mmcv's backward still pushes a false positive down by 1 - alpha.
    input = torch.tensor([[30.0, -30.0]], requires_grad=True)
    mmcv_ops.sigmoid_focal_loss(input, torch.tensor([1]), 2.0, 0.25).backward()
    torch.testing.assert_close(input.grad, torch.tensor([[0.75, -0.25]]))


@requires_stand_in
def test_mmseg_sigmoid_focal_loss_runs_through_stand_in():
    """MMSeg's CUDA-path focal loss (mmcv op) equals its PyTorch path."""
    focal_loss = importlib.import_module('mmseg.models.losses.focal_loss')

    torch.manual_seed(0)
    pred = torch.randn(6, 4)
    target = torch.tensor([0, 3, 1, 4, 2, 2])  # 4 == num_classes: background
    one_hot = F.one_hot(target, num_classes=5)[:, :4]
    valid_mask = torch.tensor([1, 1, 0, 1, 1, 1]).view(-1, 1)
    kwargs = {
        'gamma': 2.0,
        'alpha': 0.5,
        'class_weight': [1.0, 2.0, 0.5, 1.0],
        'valid_mask': valid_mask,
        'reduction': 'mean',
    }
    loss = focal_loss.sigmoid_focal_loss(pred, target, one_hot, **kwargs)
    reference = focal_loss.py_sigmoid_focal_loss(pred, one_hot, **kwargs)
    torch.testing.assert_close(loss, reference)


@requires_stand_in
@requires_cuda
def test_mmseg_focal_loss_module_on_cuda(monkeypatch):
    focal_loss = importlib.import_module('mmseg.models.losses.focal_loss')

    calls = []

    def spy(*args):
        calls.append(args)
        return mmcv_ops.sigmoid_focal_loss(*args)

    monkeypatch.setattr(focal_loss, '_sigmoid_focal_loss', spy)
    loss_fn = focal_loss.FocalLoss(use_sigmoid=True)
    pred = torch.randn(2, 3, 4, 4, device='cuda', requires_grad=True)
    target = torch.randint(0, 3, (2, 4, 4), device='cuda')
    target[0, 0, 0] = 255
    loss = loss_fn(pred, target)
    loss.backward()
    assert calls and torch.isfinite(loss) and torch.isfinite(pred.grad).all()


@pytest.mark.skipif(
    importlib.util.find_spec('mmcv._ext') is None
    or not torch.cuda.is_available(),
    reason='needs full mmcv and CUDA',
)
def test_matches_compiled_mmcv_kernel():
    from mmcv.ops.focal_loss import sigmoid_focal_loss as compiled

    torch.manual_seed(0)
    input = torch.randn(8, 5, device='cuda') * 4
    target = torch.tensor([0, 4, 5, 2, 1, 5, 3, 0], device='cuda')
    for reduction in ('none', 'mean', 'sum'):
        x1 = input.clone().requires_grad_()
        x2 = input.clone().requires_grad_()
        out1 = mmcv_ops.sigmoid_focal_loss(
            x1, target, 2.0, 0.25, None, reduction
        )
        out2 = compiled(x2, target, 2.0, 0.25, None, reduction)
        torch.testing.assert_close(out1, out2)
        out1.sum().backward()
        out2.sum().backward()
        torch.testing.assert_close(x1.grad, x2.grad)
