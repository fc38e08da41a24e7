"""Tests for :mod:`mmseg_ocr_plus.compat.checkpoint_loader`: MMEngine
checkpoints load with ``weights_only`` where torch defaults to it; a failed
download of pretrained weights, a damaged file and a refused pickle are each
one clear error."""
import os
import pickle
import socket

import mmengine
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
from mmengine.runner.checkpoint import CheckpointLoader, save_checkpoint
from mmengine.utils import digit_version

from mmseg_ocr_plus.compat import (
    PretrainedDownloadError,
    UnreadableCheckpointError,
    UnsafeCheckpointError,
    checkpoint_loader,
)
from mmseg_ocr_plus.utils import checkpoint_url

requires_weights_only_default = pytest.mark.skipif(
    not checkpoint_loader.needs_safe_globals(),
    reason='torch.load does not default to weights_only=True here',
)


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
        (_Call(os.system, 'echo unsafe'), 'posix.system'),
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
    with pytest.raises(UnsafeCheckpointError) as info:
        CheckpointLoader.load_checkpoint(path)
    text = str(info.value)
    assert text.startswith(f"checkpoint '{path}': refused: it holds a "
                           'pickled ')
    assert message in text
    assert text.endswith('nothing from the file was run')
    # PyTorch's advice to load with weights_only=False is not passed on.
    assert 'weights_only' not in text and 'safe_globals' not in text
    assert '\n' not in text
    assert info.value.__cause__ is None and info.value.__context__ is None


@requires_weights_only_default
def test_nothing_runs_from_a_refused_pickle(tmp_path):
    marker = tmp_path / 'ran'
    path = str(tmp_path / 'evil.pth')
    torch.save({'meta': _Call(os.system, f'touch {marker}')}, path)
    with pytest.raises(UnsafeCheckpointError, match='posix.system'):
        CheckpointLoader.load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    'content, reason',
    [
        (lambda good: good[:len(good) // 2],
         'it is truncated: {size} bytes that start like a PyTorch checkpoint '
         '(a zip archive) but lack its end, as a copy or a save cut off '
         'leaves it'),
        (lambda good: b'',
         'the file is empty (0 bytes)'),
        (lambda good: b'model: hrnet\n',
         "not a PyTorch checkpoint: expected a file saved by torch.save, "
         "found {size} bytes starting b'model: h'"),
    ],
    ids=['truncated', 'empty', 'text'])
def test_damaged_checkpoint_is_named(tmp_path, content, reason):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(64, 64)}}, good)
    path = tmp_path / 'iter_6.pth'
    path.write_bytes(content(good.read_bytes()))
    with pytest.raises(UnreadableCheckpointError) as info:
        CheckpointLoader.load_checkpoint(str(path))
    size = path.stat().st_size
    assert str(info.value) == (f"checkpoint '{path}': cannot load it: "
                               f'{reason.format(size=size)}')


def test_a_good_file_with_a_bad_map_location_is_not_blamed(tmp_path):
    path = str(tmp_path / 'good.pth')
    torch.save({'state_dict': {'w': torch.ones(2)}}, path)

    def bad_location(storage, location):
        raise RuntimeError('no such device')

    with pytest.raises(RuntimeError, match='no such device'):
        CheckpointLoader.load_checkpoint(path, map_location=bad_location)


def test_getattr_guard_lists_what_checkpoints_hold():
    """The guard's HistoryBuffer names are its default statistics."""
    HistoryBuffer()  # registers the defaults
    defaults = {'min', 'max', 'current', 'mean'}
    assert defaults <= set(HistoryBuffer._statistics_methods)
    allowed = checkpoint_loader.pickled_class_attributes()
    assert allowed[HistoryBuffer] == defaults
    for cls, names in allowed.items():
        assert all(callable(getattr(cls, name)) for name in names)


def test_no_safe_globals_on_older_torch_or_newer_mmengine(monkeypatch):
    assert checkpoint_loader.needs_safe_globals() == (
        digit_version(torch.__version__) >= digit_version('2.6'))
    monkeypatch.setattr(torch, '__version__', '2.5.1')
    assert not checkpoint_loader.needs_safe_globals()
    monkeypatch.setattr(torch, '__version__', '2.6.0')
    monkeypatch.setattr(mmengine, '__version__', '0.10.8')
    assert not checkpoint_loader.needs_safe_globals()


def test_installed_once():
    load_checkpoint = CheckpointLoader.__dict__['load_checkpoint']
    assert checkpoint_loader.install()
    assert CheckpointLoader.__dict__['load_checkpoint'] is load_checkpoint


def refused_url(name: str) -> str:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f'http://127.0.0.1:{port}/{name}'


def test_open_mmlab_names_resolve_to_their_download_urls():
    assert checkpoint_url('open-mmlab://msra/hrnetv2_w18') == (
        'https://download.openmmlab.com/pretrain/third_party/'
        'hrnetv2_w18-00eb2006.pth')
    assert checkpoint_url('openmmlab://resnet101_v1c').endswith(
        '/resnet101_v1c-e67eebb6.pth')
    assert checkpoint_url('https://x.org/a.pth') == 'https://x.org/a.pth'
    assert checkpoint_url('weights/local.pth') is None
    assert checkpoint_url('open-mmlab://no_such_model') is None


def test_refused_download_names_url_file_and_both_ways_on():
    url = refused_url('hrnetv2_w48-d2186c55.pth')
    with pytest.raises(PretrainedDownloadError) as info:
        CheckpointLoader.load_checkpoint(url)
    message = str(info.value)
    assert isinstance(info.value, OSError)
    assert '\n' not in message
    assert url in message and 'Connection refused' in message
    assert ('--cfg-options model.pretrained=/path/to/'
            'hrnetv2_w48-d2186c55.pth') in message
    assert 'checkpoints/hrnetv2_w48-d2186c55.pth' in message  # torch hub
    assert message.endswith('--cfg-options model.pretrained=None')


def test_local_files_are_left_alone(tmp_path):
    with pytest.raises(FileNotFoundError):  # not a download: unchanged
        CheckpointLoader.load_checkpoint(str(tmp_path / 'missing.pth'))
