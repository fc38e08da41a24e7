"""Tests for :mod:`mmseg_ocr_plus.utils.compat`.

Fix (a) is exercised where mmcv-lite is installed (the stand-in is active),
fix (b) where ``torch.load`` defaults to ``weights_only=True``, fix (c)
where ``pkg_resources`` is missing, and fix (d) everywhere (MMSeg 1.2.2 is
pinned); each fix's gate is tested everywhere.
"""

import importlib
import importlib.machinery
import importlib.util
import math
import os
import pickle
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
from mmengine.runner.checkpoint import CheckpointLoader, save_checkpoint

from mmseg_ocr_plus.utils import MissingOpError, apply_compat, compat

STAND_IN_ACTIVE = getattr(sys.modules.get('mmcv.ops'), compat._MARK, False)
requires_stand_in = pytest.mark.skipif(
    not STAND_IN_ACTIVE, reason='full mmcv is installed: no mmcv.ops stand-in'
)
requires_weights_only_default = pytest.mark.skipif(
    not compat._torch_load_defaults_to_weights_only(),
    reason='torch.load does not default to weights_only=True here',
)
requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs CUDA'
)


def _pretend_importable(monkeypatch, module_name):
    """Make ``importlib.util.find_spec(module_name)`` find a module."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name, package=None):
        if name == module_name:
            return importlib.machinery.ModuleSpec(name, None)
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, 'find_spec', find_spec)


def test_apply_compat_is_idempotent():
    ops = sys.modules.get('mmcv.ops')
    load_checkpoint = CheckpointLoader.__dict__['load_checkpoint']
    from mmengine.config import config as mmengine_config

    is_installed = mmengine_config.is_installed
    apply_compat()
    apply_compat()
    assert sys.modules.get('mmcv.ops') is ops
    assert CheckpointLoader.__dict__['load_checkpoint'] is load_checkpoint
    assert mmengine_config.is_installed is is_installed


# ---------------------------------------------------------------------------
# (a) mmcv.ops stand-in
# ---------------------------------------------------------------------------
def test_stand_in_left_out_with_full_mmcv(monkeypatch):
    import mmcv

    monkeypatch.delitem(sys.modules, 'mmcv.ops', raising=False)
    monkeypatch.delattr(mmcv, 'ops', raising=False)
    _pretend_importable(monkeypatch, 'mmcv._ext')
    apply_compat()
    assert 'mmcv.ops' not in sys.modules
    assert 'ops' not in vars(mmcv)


@requires_stand_in
def test_mmseg_models_import_through_stand_in():
    import mmcv
    import mmseg.models  # noqa: F401

    focal_loss = importlib.import_module('mmseg.models.losses.focal_loss')
    point_sample = importlib.import_module('mmseg.models.utils.point_sample')
    assert mmcv.ops is sys.modules['mmcv.ops']
    assert focal_loss._sigmoid_focal_loss is compat.sigmoid_focal_loss
    assert point_sample.point_sample is compat.point_sample


@requires_stand_in
def test_missing_op_names_op_and_install_command():
    import mmcv.ops

    with pytest.raises(MissingOpError) as error:
        from mmcv.ops import DeformConv2d  # noqa: F401
    assert isinstance(error.value, ModuleNotFoundError)
    assert 'mmcv.ops.DeformConv2d' in str(error.value)
    assert compat.MMCV_INSTALL_COMMAND in str(error.value)

    # Attribute access says the same, as an AttributeError.
    assert not hasattr(mmcv.ops, 'RoIAlign')
    with pytest.raises(AttributeError, match=r'mmcv\.ops\.RoIAlign needs'):
        mmcv.ops.RoIAlign  # noqa: B018
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
    assert compat.MMCV_INSTALL_COMMAND in str(error.value)


def test_point_sample_hand_checked():
    feats = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])  # [1, 1, 2, 2]
    # (x, y): pixel centres sit at 0.25 and 0.75, the middle at 0.5.
    points = torch.tensor([[[0.25, 0.25], [0.75, 0.25], [0.5, 0.5]]])
    out = compat.point_sample(feats, points)  # [1, 1, 3]
    torch.testing.assert_close(out, torch.tensor([[[0.0, 1.0, 1.5]]]))
    # With align_corners the corner pixels' centres sit at 0 and 1.
    points = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.5, 0.0]]])
    out = compat.point_sample(feats, points, align_corners=True)
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
    out = compat.point_sample(feats, points, align_corners=align_corners)
    assert out.shape == (2, 3, 11)
    torch.testing.assert_close(
        out, _bilinear_reference(feats, points, align_corners)
    )
    # A [N, Hg, Wg, 2] grid of the same points gives [N, C, Hg, Wg].
    grid_out = compat.point_sample(
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
    loss = compat.sigmoid_focal_loss(input, target, 2.0, 0.25, None, 'none')
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(
        compat.sigmoid_focal_loss(input, target, 2.0, 0.25, None, 'sum'),
        expected.sum(),
    )
    # 'mean' divides by the number of rows, not by rows * classes.
    torch.testing.assert_close(
        compat.sigmoid_focal_loss(input, target), expected.sum() / 3
    )


def test_sigmoid_focal_loss_weights_rows_by_target_class():
    logits = [[0.5, -1.0, 2.0], [-0.3, 0.8, 0.1]]
    targets, weight = [2, 0], [0.5, 2.0, 3.0]
    loss = compat.sigmoid_focal_loss(
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
        compat.sigmoid_focal_loss(
            torch.zeros(2, 3),
            torch.tensor([0, 255]),
            weight=torch.ones(3),
        )


def test_sigmoid_focal_loss_rejects_bad_inputs():
    with pytest.raises(TypeError, match='int64 target'):
        compat.sigmoid_focal_loss(torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(ValueError, match=r'target of shape \[2\]'):
        compat.sigmoid_focal_loss(torch.zeros(2, 3), torch.zeros(3).long())
    with pytest.raises(ValueError, match=r'weight of shape \[3\]'):
        compat.sigmoid_focal_loss(
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
        lambda x: compat.sigmoid_focal_loss(
            x, target, 2.0, 0.25, None, reduction
        ),
        (input,),
    )
    assert torch.autograd.gradcheck(
        lambda x: compat.sigmoid_focal_loss(
            x, target_in_range, 2.0, 0.25, weight, reduction
        ),
        (input,),
    )


def test_sigmoid_focal_loss_keeps_gradient_of_confident_mistakes():
    # sigmoid(30) == 1 in float32: the loss saturates at the FLT_MIN clamp,
    # but mmcv's backward still pushes a false positive down by 1 - alpha.
    input = torch.tensor([[30.0, -30.0]], requires_grad=True)
    compat.sigmoid_focal_loss(input, torch.tensor([1]), 2.0, 0.25).backward()
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
        return compat.sigmoid_focal_loss(*args)

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
        out1 = compat.sigmoid_focal_loss(
            x1, target, 2.0, 0.25, None, reduction
        )
        out2 = compiled(x2, target, 2.0, 0.25, None, reduction)
        torch.testing.assert_close(out1, out2)
        out1.sum().backward()
        out2.sum().backward()
        torch.testing.assert_close(x1.grad, x2.grad)


# ---------------------------------------------------------------------------
# (b) weights_only loading of MMEngine checkpoints
# ---------------------------------------------------------------------------
class _Call:
    """Pickles as ``fn(*args)``, to write arbitrary REDUCE chains."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


class _Unrelated:
    """A class no checkpoint of MMEngine contains."""


def _message_hub_state():
    hub = MessageHub.get_instance('test_compat_hub')
    for loss in (0.9, 0.5, 0.25):
        hub.update_scalar('train/loss', loss)
    hub.update_scalar('train/iters', 3)  # an int64 history
    hub.update_info('eta', np.float64(12.5), resumed=True)
    return hub.state_dict()


@requires_weights_only_default
def test_mmengine_checkpoint_round_trip(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    params = [torch.nn.Parameter(torch.zeros(2))]
    optimizer = torch.optim.SGD(params, lr=0.1)
    scheduler = OneCycleParamScheduler(
        optimizer, 'lr', eta_max=0.1, total_steps=10
    )
    save_checkpoint(
        {
            'meta': {'iter': 3, 'dataset_meta': {'classes': ('a', 'b')}},
            'state_dict': {'w': torch.ones(2)},
            'message_hub': _message_hub_state(),
            'param_schedulers': [scheduler.state_dict()],
        },
        path,
    )
    before = set(torch.serialization.get_safe_globals())

    # Scoped: torch.load on its own still refuses the checkpoint ...
    with pytest.raises(pickle.UnpicklingError, match='Unsupported global'):
        torch.load(path)
    # ... while MMEngine's loader reads it, still with weights_only.
    checkpoint = CheckpointLoader.load_checkpoint(path)
    assert set(torch.serialization.get_safe_globals()) == before

    hub = MessageHub.get_instance('test_compat_hub_resumed')
    hub.load_state_dict(checkpoint['message_hub'])
    loss = hub.get_scalar('train/loss')
    assert isinstance(loss, HistoryBuffer)
    np.testing.assert_allclose(loss.data[0], [0.9, 0.5, 0.25])
    assert loss.mean() == pytest.approx(0.55)
    assert hub.get_scalar('train/iters').data[0].dtype == np.int64
    assert hub.get_info('eta') == np.float64(12.5)
    assert checkpoint['param_schedulers'][0]['anneal_func'] is (
        OneCycleParamScheduler._annealing_cos
    )


@requires_weights_only_default
def test_runner_resume(tmp_path):
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, inputs, labels, mode='tensor'):
            out = self.linear(torch.stack(inputs)).squeeze(1)
            if mode == 'loss':
                return {'loss': F.mse_loss(out, torch.stack(labels))}
            return out

    dataset = [{'inputs': torch.randn(2), 'labels': torch.randn(())}] * 8

    def make_runner(max_iters, name, **kwargs):
        return Runner(
            model=Model(),
            work_dir=str(tmp_path),
            experiment_name=name,
            train_dataloader={
                'dataset': dataset,
                'sampler': {'type': 'InfiniteSampler'},
                'batch_size': 2,
            },
            optim_wrapper={'optimizer': {'type': 'SGD', 'lr': 0.01}},
            param_scheduler={'type': 'PolyLR', 'by_epoch': False, 'end': 4},
            train_cfg={'by_epoch': False, 'max_iters': max_iters},
            default_hooks={
                'checkpoint': {
                    'type': 'CheckpointHook',
                    'interval': 2,
                    'by_epoch': False,
                },
                'logger': {'type': 'LoggerHook', 'interval': 1},
            },
            **kwargs,
        )

    trained = make_runner(2, 'test_compat_train')
    trained.train()
    losses = trained.message_hub.get_scalar('train/loss').data[0]
    resumed = make_runner(
        4,
        'test_compat_resume',
        load_from=str(tmp_path / 'iter_2.pth'),
        resume=True,
    )
    resumed.train()
    assert resumed.iter == 4
    resumed_losses = resumed.message_hub.get_scalar('train/loss').data[0]
    np.testing.assert_allclose(resumed_losses[:2], losses)
    assert len(resumed_losses) == 4


@requires_weights_only_default
@pytest.mark.parametrize(
    'payload, message',
    [
        (_Call(getattr, HistoryBuffer, '__init__'), 'getattr'),
        (
            # An allowed method's globals lead to everything else.
            _Call(
                getattr, _Call(getattr, HistoryBuffer, 'mean'), '__globals__'
            ),
            'getattr',
        ),
        (_Call(getattr, np.ndarray, 'tofile'), 'getattr'),
        (_Call(os.system, 'echo unsafe'), 'blocked'),
        (_Unrelated(), '_Unrelated'),
        (np.array([1, 'a'], dtype=object), 'ObjectDType'),
    ],
    ids=[
        'getattr-init',
        'getattr-globals',
        'getattr-other-class',
        'os-system',
        'unrelated-class',
        'object-array',
    ],
)
def test_unsafe_checkpoint_rejected(tmp_path, payload, message):
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'message_hub': payload}, path)
    with pytest.raises(pickle.UnpicklingError, match=message):
        CheckpointLoader.load_checkpoint(path)


def test_getattr_guard_lists_what_checkpoints_hold():
    """The guard's HistoryBuffer names are its default statistics."""
    HistoryBuffer()  # registers the defaults
    defaults = {'min', 'max', 'current', 'mean'}
    assert defaults <= set(HistoryBuffer._statistics_methods)
    allowed = compat._pickled_class_attributes()
    assert allowed[HistoryBuffer] == defaults
    for cls, names in allowed.items():
        assert all(callable(getattr(cls, name)) for name in names)


def test_checkpoint_loader_left_alone_on_older_torch(monkeypatch):
    monkeypatch.setattr(torch, '__version__', '2.5.1')
    load_checkpoint = CheckpointLoader.__dict__['load_checkpoint']
    assert not compat._scope_mmengine_checkpoint_globals()
    assert CheckpointLoader.__dict__['load_checkpoint'] is load_checkpoint


# ---------------------------------------------------------------------------
# (c) pkg_resources-free package lookups
# ---------------------------------------------------------------------------
def test_config_inherits_mmseg_base(tmp_path):
    from mmengine.config import Config

    cfg_file = tmp_path / 'ocrnet.py'
    cfg_file.write_text(
        "_base_ = ['mmseg::_base_/models/ocrnet_hr18.py']\n"
        'crop_size = (64, 64)\n'
    )
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.model.type == 'CascadeEncoderDecoder'
    assert [head.type for head in cfg.model.decode_head] == [
        'FCNHead',
        'OCRHead',
    ]
    assert cfg.crop_size == (64, 64)


def _pretend_missing(monkeypatch, module_name):
    """Make ``importlib.util.find_spec(module_name)`` find nothing."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name, package=None):
        if name == module_name:
            return None
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, 'find_spec', find_spec)


def test_package_helpers_replaced_in_mmengine(monkeypatch):
    import mmengine.utils
    from mmengine.config import config as mmengine_config
    from mmengine.utils import package_utils

    modules = (mmengine.utils, package_utils, mmengine_config)
    names = ('is_installed', 'get_installed_path', 'package2module')
    for module in modules:  # restored after the test
        for name in names:
            if name in vars(module):
                monkeypatch.setattr(module, name, getattr(module, name))
    _pretend_missing(monkeypatch, 'pkg_resources')
    assert compat._replace_pkg_resources_helpers()
    for module in modules:
        assert module.is_installed is compat.is_installed
        assert module.get_installed_path is compat.get_installed_path
    assert package_utils.package2module is compat.package2module

    import mmseg

    mmseg_dir = os.path.dirname(mmseg.__file__)
    assert compat.is_installed('mmsegmentation')
    assert compat.is_installed('mmseg')  # a module name, found by spec
    assert not compat.is_installed('surely_not_an_installed_package')
    assert compat.get_installed_path('mmsegmentation') == mmseg_dir
    assert compat.get_installed_path('mmseg') == mmseg_dir
    assert compat.package2module('mmsegmentation') == 'mmseg'
    with pytest.raises(ModuleNotFoundError):
        compat.get_installed_path('surely_not_an_installed_package')


def test_package_helpers_left_alone_with_pkg_resources(monkeypatch):
    _pretend_importable(monkeypatch, 'pkg_resources')
    assert not compat._replace_pkg_resources_helpers()


# (d) class-weighted cross-entropy with ignored pixels


def weighted_ce_case():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 4, 5, 5, generator=g)
    labels = torch.randint(0, 4, (2, 5, 5), generator=g)
    labels[0, :2] = 255
    return scores, labels, [0.5, 1.0, 2.0, 3.0]


def test_weighted_cross_entropy_takes_ignored_pixels():
    """A CrossEntropyLoss with class weights gives PyTorch's weighted mean
    where MMSeg 1.2.2's own function fails."""
    from mmseg.models.losses import CrossEntropyLoss, cross_entropy_loss

    scores, labels, weights = weighted_ce_case()
    loss = CrossEntropyLoss(class_weight=weights)
    assert loss.cls_criterion is compat.ignore_safe_cross_entropy
    expected = F.cross_entropy(
        scores, labels, weight=torch.tensor(weights), ignore_index=255
    )
    torch.testing.assert_close(
        loss(scores, labels, ignore_index=255), expected
    )
    original = compat.ignore_safe_cross_entropy.__wrapped__
    assert not getattr(original, compat._MARK, False)
    with pytest.raises(IndexError):  # open-mmlab/mmsegmentation#3734
        original(scores, labels, None, torch.tensor(weights), 'mean', None,
                 255)
    # Without ignored pixels, and without class weights: MMSeg's values.
    kept = labels.clamp(max=3)
    for class_weight in (torch.tensor(weights), None):
        torch.testing.assert_close(
            compat.ignore_safe_cross_entropy(
                scores, kept, class_weight=class_weight, ignore_index=255
            ),
            original(scores, kept, None, class_weight, ignore_index=255),
        )
    # An ignore index inside [-K, K) does not fail in MMSeg (it counts the
    # ignored pixels' weights): MMSeg's values, bit for bit.
    for ignore_index in (0, -1):
        assert torch.equal(
            compat.ignore_safe_cross_entropy(
                scores, labels.clamp(max=3), None, torch.tensor(weights),
                ignore_index=ignore_index),
            original(scores, labels.clamp(max=3), None, torch.tensor(weights),
                     ignore_index=ignore_index))
    assert CrossEntropyLoss()(scores, labels, ignore_index=255).isfinite()
    assert cross_entropy_loss.cross_entropy is compat.ignore_safe_cross_entropy


def test_weighted_cross_entropy_called_before_the_fix(monkeypatch):
    """Called directly before MMSeg's module was patched: patches it."""
    from mmseg.models.losses import cross_entropy_loss

    fixed = compat.ignore_safe_cross_entropy
    original = fixed.__wrapped__
    monkeypatch.delattr(fixed, '__wrapped__')
    monkeypatch.setattr(cross_entropy_loss, 'cross_entropy', original)
    scores, labels, weights = weighted_ce_case()
    expected = F.cross_entropy(
        scores, labels, weight=torch.tensor(weights), ignore_index=255
    )
    torch.testing.assert_close(
        fixed(scores, labels, None, torch.tensor(weights), ignore_index=255),
        expected,
    )
    assert fixed.__wrapped__ is original
    assert cross_entropy_loss.cross_entropy is fixed


def test_weighted_cross_entropy_fix_is_idempotent_and_gated(monkeypatch):
    from mmseg.models import losses

    fixed = compat.ignore_safe_cross_entropy
    original = fixed.__wrapped__
    apply_compat()
    assert losses.cross_entropy_loss.cross_entropy is fixed
    assert fixed.__wrapped__ is original  # not wrapped twice
    assert losses.cross_entropy is fixed  # the package's re-export too
    # Installed on a fresh module once MMSeg's loss module is there; a
    # no-op before.
    monkeypatch.setattr(losses.cross_entropy_loss, 'cross_entropy', original)
    monkeypatch.delitem(sys.modules, 'mmseg.models.losses.cross_entropy_loss')
    assert not compat._fix_weighted_cross_entropy()
    monkeypatch.setitem(
        sys.modules, 'mmseg.models.losses.cross_entropy_loss',
        losses.cross_entropy_loss
    )
    assert compat._fix_weighted_cross_entropy()
    assert losses.cross_entropy_loss.cross_entropy is fixed
