"""Tests of RMILoss: the value against the paper's formula written out here,
gradients, ignored pixels, degenerate batches, autocast and the singular
covariance that crashes a plain Cholesky (ZJULearning/RMI#12)."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.decode_heads import FCNHead
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_ocr_plus.models.losses import RMILoss
from mmseg_ocr_plus.models.losses.rmi_loss import RobustCholesky

K = 4


def direct_rmi_loss(logits, label, radius=3, pool='avg', size=4, stride=4,
                    alpha=5e-4, lam=0.5, lambda_way=1, ignore=255):
    """``lam * BCE + (1 - lam) * RMI`` from arXiv 1910.12037 Eq. 13-14, one
    image and class at a time, in float64 with ``torch.logdet``."""
    logits, n_cls = logits.double(), logits.shape[1]
    valid = (label != ignore) & (label < n_cls)  # [B, H, W]
    y = torch.stack([(label == k) & valid for k in range(n_cls)], 1).double()
    m = valid[:, None].double()
    p = torch.sigmoid(logits)
    bce = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)) * m
    bce = bce.sum() / (valid.sum() + 1)
    p = p * m + 1e-6
    if stride > 1:
        pooling = F.avg_pool2d if pool == 'avg' else F.max_pool2d
        y, p = (pooling(t, size, stride, size // 2) for t in (y, p))
    d = radius * radius
    eye = torch.eye(d, dtype=torch.float64)
    total = 0.0
    for k in range(n_cls):
        per_image = []
        for b in range(logits.shape[0]):
            # columns: the d-dim neighbourhood vectors of every position
            ys = F.unfold(y[b:b + 1, k:k + 1], radius)[0]  # [d, M]
            ps = F.unfold(p[b:b + 1, k:k + 1], radius)[0]
            ys = ys - ys.mean(1, keepdim=True)
            ps = ps - ps.mean(1, keepdim=True)
            s_y, s_p, s_yp = ys @ ys.T, ps @ ps.T, ys @ ps.T
            cond = s_y - s_yp @ torch.linalg.inv(s_p + alpha * eye) @ s_yp.T
            per_image.append(0.5 * torch.logdet(cond + alpha * eye) / d)
        total = total + torch.stack(per_image).mean()
    if lambda_way:
        return lam * bce + (1 - lam) * total
    return bce + lam * total


def sample(b=2, h=24, w=32, k=K, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, k, h, w, generator=g) * 2
    label = torch.randint(0, k, (b, h, w), generator=g)
    label[:, :3] = 255  # a band of ignored pixels
    return logits, label


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(rmi_pool_way='max', rmi_pool_size=3, rmi_pool_stride=3,
         pos_alpha=1e-3),
    dict(rmi_radius=2, rmi_pool_stride=1, rmi_pool_size=1),
    dict(lambda_way=0, loss_weight_lambda=0.3),
])
def test_matches_direct_formula(kwargs):
    logits, label = sample()
    ref = direct_rmi_loss(
        logits,
        label,
        radius=kwargs.get('rmi_radius', 3),
        pool=kwargs.get('rmi_pool_way', 'avg'),
        size=kwargs.get('rmi_pool_size', 4),
        stride=kwargs.get('rmi_pool_stride', 4),
        alpha=kwargs.get('pos_alpha', 5e-4),
        lam=kwargs.get('loss_weight_lambda', 0.5),
        lambda_way=kwargs.get('lambda_way', 1))
    loss = RMILoss(K, loss_weight=2.0, **kwargs)
    torch.testing.assert_close(
        loss(logits.double(), label), 2 * ref, rtol=1e-6, atol=1e-7)
    out32 = loss(logits, label)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32, 2 * ref.float(), rtol=1e-5, atol=1e-5)
    assert loss.singular_count == 0


def test_gradcheck_float64():
    logits, label = sample(b=1, h=16, w=16, k=3, seed=1)
    loss = RMILoss(3, rmi_pool_size=2, rmi_pool_stride=2)
    logits = logits.double().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: loss(x, label), (logits, ), eps=1e-6, atol=1e-5)


def test_ignored_pixels_and_label_unchanged():
    logits, label = sample()
    label[0, 5:9, 5:9] = 7  # outside [0, K): ignored as well
    before = label.clone()
    loss = RMILoss(K)
    logits.requires_grad_()
    value = loss(logits, label)
    value.backward()
    assert torch.equal(label, before)
    ignored = (label == 255) | (label >= K)
    assert logits.grad.permute(0, 2, 3, 1)[ignored].abs().max() == 0
    # logits at ignored pixels do not matter
    moved = torch.where(ignored[:, None], logits.detach() * 5, logits.detach())
    torch.testing.assert_close(loss(moved, label), value.detach())
    # the caller's ignore_index (MMSeg heads pass theirs) wins
    relabelled = torch.where(label == 255, -1, label)
    torch.testing.assert_close(
        loss(logits.detach(), relabelled, ignore_index=-1), value.detach())


@pytest.mark.parametrize('case', ['class_absent', 'all_ignored', 'one_class'])
def test_degenerate_batches(case):
    logits, label = sample()
    if case == 'class_absent':
        label[label == 2] = 1
    elif case == 'all_ignored':
        label[:] = 255
    else:
        label[label != 255] = 3
    logits.requires_grad_()
    loss = RMILoss(K)
    value = loss(logits, label)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()
    if case == 'all_ignored':
        # no BCE, constant probabilities: log det(alpha I) per class
        expected = 0.5 * K * 0.5 * 9 * 2 * math.log(
            math.sqrt(5e-4) + 1e-8) / 9
        torch.testing.assert_close(value.item(), expected)
        assert logits.grad.abs().max() == 0
    else:
        torch.testing.assert_close(value, direct_rmi_loss(logits.detach(),
                                                          label).float())


def test_autocast_bf16_cpu():
    logits, label = sample()
    conv = torch.nn.Conv2d(K, K, 1)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = conv(logits)
        assert out.dtype == torch.bfloat16
        value = RMILoss(K)(out, label)
    assert value.dtype == torch.float32 and torch.isfinite(value)
    value.backward()
    assert all(torch.isfinite(p.grad).all() for p in conv.parameters())
    torch.testing.assert_close(
        value, direct_rmi_loss(out.detach(), label).float(), rtol=1e-4,
        atol=1e-4)


def test_singular_covariance_is_counted_not_raised():
    # pos_alpha=0 and one class everywhere: the label covariance is zero,
    # so the posterior covariance is singular
    logits = torch.zeros(1, 2, 16, 16, requires_grad=True)
    label = torch.zeros(1, 16, 16, dtype=torch.long)
    with pytest.raises(RuntimeError):  # what the references call
        torch.linalg.cholesky(torch.zeros(1, 2, 9, 9, dtype=torch.float64))
    loss = RMILoss(2, pos_alpha=0.0)
    value = loss(logits, label)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()
    assert loss.singular_count > 0
    count = loss.singular_count
    loss(logits, label)
    assert loss.singular_count == 2 * count


def test_robust_cholesky_jitter_and_fallback():
    good = torch.eye(3, dtype=torch.float64) * 2
    indefinite = torch.diag(torch.tensor([1.0, 1.0, -1e-5],
                                         dtype=torch.float64))
    broken = torch.full((3, 3), float('nan'), dtype=torch.float64)
    chol, failed = RobustCholesky(1e-4)(torch.stack([good, indefinite,
                                                     broken]))
    assert failed == 2
    torch.testing.assert_close(chol[0], good.sqrt())
    assert torch.isfinite(chol).all()
    torch.testing.assert_close(chol[2], torch.eye(3, dtype=torch.float64))


def test_registered_and_listed_with_cross_entropy():
    head = FCNHead(
        in_channels=8,
        channels=8,
        num_classes=K,
        num_convs=1,
        loss_decode=[
            dict(type='CrossEntropyLoss', loss_weight=1.0),
            dict(type='RMILoss', num_classes=K, loss_weight=0.5),
        ])
    assert isinstance(MODELS.build(dict(type='RMILoss', num_classes=K)),
                      RMILoss)
    logits, label = sample(h=16, w=16)
    samples = [
        SegDataSample(gt_sem_seg=PixelData(data=label[i:i + 1]))
        for i in range(2)
    ]
    losses = head.loss_by_feat(logits, samples)
    assert set(losses) == {'loss_ce', 'loss_rmi', 'acc_seg'}
    torch.testing.assert_close(losses['loss_rmi'],
                               0.5 * RMILoss(K)(logits, label))
