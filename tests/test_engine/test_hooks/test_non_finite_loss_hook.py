"""``NonFiniteLossHook`` with a ``Mock()`` runner; the real run is in
``tests/test_tools/test_reliability.py``."""
from unittest.mock import Mock

import pytest
import torch
from mmseg.registry import HOOKS

from mmseg_ocr_plus.engine.hooks import NonFiniteLossError, NonFiniteLossHook


def runner(work_dir, iteration=4):
    return Mock(iter=iteration, work_dir=str(work_dir))


def outputs(**losses):
    return {
        'loss': sum(torch.tensor(v) for v in losses.values()),
        **{k: torch.tensor(v)
           for k, v in losses.items()}, 'decode.acc_seg': torch.tensor(50.)
    }


def test_registered_before_the_checkpoint_hook():
    assert HOOKS.get('NonFiniteLossHook') is NonFiniteLossHook
    assert NonFiniteLossHook.priority == 'ABOVE_NORMAL'  # CheckpointHook:
    # VERY_LOW


def test_finite_losses_pass(tmp_path):
    NonFiniteLossHook().after_train_iter(
        runner(tmp_path), 0, outputs=outputs(**{'decode_0.loss_ce': 1.5}))
    NonFiniteLossHook().after_train_iter(runner(tmp_path), 0, outputs=None)


def test_nan_names_iteration_terms_and_last_checkpoint(tmp_path):
    (tmp_path / 'last_checkpoint').write_text(f'{tmp_path}/iter_2.pth')
    with pytest.raises(NonFiniteLossError) as info:
        NonFiniteLossHook().after_train_iter(
            runner(tmp_path),
            3,
            outputs=outputs(**{
                'decode_0.loss_ce': 0.7,
                'decode_1.loss_ce': float('nan')
            }))
    assert str(info.value) == (
        'iteration 5: non-finite loss (loss = nan, decode_1.loss_ce = nan); '
        f'training stopped, last_checkpoint is still {tmp_path}/iter_2.pth')


def test_inf_before_any_checkpoint(tmp_path):
    with pytest.raises(
            NonFiniteLossError,
            match=r'^iteration 1: non-finite loss \(loss = inf, '
            r'loss_x = inf\); training stopped, no checkpoint was saved$'):
        NonFiniteLossHook().after_train_iter(
            runner(tmp_path, 0), 0, outputs=outputs(loss_x=float('inf')))
