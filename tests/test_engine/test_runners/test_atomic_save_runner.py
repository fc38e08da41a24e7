"""``AtomicSaveRunner``: checkpoints are complete under their name or
absent, also when the disk fills up during a save."""
import errno

import pytest
import torch
import torch.nn.functional as F
from mmengine.fileio import LocalBackend
from mmengine.model import BaseModel
from mmseg.registry import RUNNERS

from mmseg_ocr_plus.engine.runners import (
    AtomicSaveRunner,
    CheckpointSaveError,
)


class Model(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels, mode='tensor'):
        out = self.linear(torch.stack(inputs)).squeeze(1)
        if mode == 'loss':
            return {'loss': F.mse_loss(out, torch.stack(labels))}
        return out


def make_runner(work_dir, name, max_iters):
    dataset = [{'inputs': torch.randn(2), 'labels': torch.randn(())}] * 8
    return AtomicSaveRunner(
        model=Model(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=dataset,
            sampler=dict(type='InfiniteSampler'),
            batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=1, by_epoch=False)))


def test_registered():
    assert RUNNERS.get('AtomicSaveRunner') is AtomicSaveRunner


def test_checkpoints_are_renamed_into_place(tmp_path):
    make_runner(tmp_path, 'atomic_save_ok', 2).train()
    assert sorted(p.name for p in tmp_path.glob('*.pth*')) == [
        'iter_1.pth', 'iter_2.pth'
    ]
    checkpoint = torch.load(tmp_path / 'iter_2.pth', weights_only=False)
    assert checkpoint['meta']['iter'] == 2
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'iter_2.pth')


def test_full_disk_leaves_no_partial_checkpoint(tmp_path, monkeypatch):
    put = LocalBackend.put
    saves = []

    def put_until_full(backend, obj, filepath):
        saves.append(filepath)
        if len(saves) < 3:
            return put(backend, obj, filepath)
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(LocalBackend, 'put', put_until_full)
    with pytest.raises(CheckpointSaveError) as info:
        make_runner(tmp_path, 'atomic_save_full', 4).train()
    final = tmp_path / 'iter_3.pth'
    assert saves[-1] == f'{final}.partial'  # written beside, then renamed
    assert str(info.value) == (
        f'{final}: could not save the checkpoint (No space left on device); '
        'nothing was written under that name and last_checkpoint still '
        'names the previous checkpoint')
    assert sorted(p.name for p in tmp_path.glob('*.pth*')) == [
        'iter_1.pth', 'iter_2.pth'
    ]
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'iter_2.pth')
