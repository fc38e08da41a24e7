"""``CheckpointMatchHook`` with a ``Mock()`` runner; the real runs are in
``tests/test_tools/test_reliability.py``."""
from unittest.mock import Mock

import pytest
from mmseg.registry import HOOKS
from torch import nn

from mmseg_ocr_plus.engine.hooks import CheckpointMatchHook
from mmseg_ocr_plus.utils.state_dict_check import CheckpointMismatchError


class Head(nn.Module):

    def __init__(self, num_classes):
        super().__init__()
        self.conv_seg = nn.Conv2d(8, num_classes, 1)

    def test_step(self, data):  # for SegTTAModel
        return []


def runner(num_classes=19):
    return Mock(model=Head(num_classes))


def test_registered_last():
    assert HOOKS.get('CheckpointMatchHook') is CheckpointMatchHook
    assert CheckpointMatchHook.priority == 'LOWEST'


def test_matching_checkpoint_passes():
    saved = runner()
    checkpoint = {'state_dict': saved.model.state_dict()}
    CheckpointMatchHook('a.pth').after_load_checkpoint(runner(), checkpoint)
    # DDP's 'module.' prefix is stripped, as Runner.load_checkpoint does.
    wrapped = {f'module.{k}': v for k, v in checkpoint['state_dict'].items()}
    CheckpointMatchHook('a.pth').after_load_checkpoint(runner(), wrapped)


def test_test_time_augmentation_model_is_looked_into():
    from mmseg.models import SegTTAModel
    checkpoint = {'state_dict': runner().model.state_dict()}
    tta = runner()
    tta.model = SegTTAModel(module=tta.model)  # keys 'module.conv_seg.*'
    CheckpointMatchHook('a.pth').after_load_checkpoint(tta, checkpoint)


def test_mismatch_stops_with_the_file_and_a_summary():
    checkpoint = {'state_dict': runner(19).model.state_dict()}
    with pytest.raises(CheckpointMismatchError) as info:
        CheckpointMatchHook('w/iter_6.pth').after_load_checkpoint(
            runner(150), checkpoint)
    assert str(info.value) == (
        "checkpoint 'w/iter_6.pth' does not match the config's model: "
        'conv_seg: checkpoint has 19 classes, the config 150; to load only '
        'the matching weights (fine-tuning), pass --allow-partial')


def test_allow_partial_logs_every_skipped_key():
    model = runner(150)
    checkpoint = {'state_dict': runner(19).model.state_dict()}
    CheckpointMatchHook(
        'w/iter_6.pth', allow_partial=True).after_load_checkpoint(
            model, checkpoint)
    model.logger.warning.assert_called_once_with(
        "--allow-partial: loading checkpoint 'w/iter_6.pth' partially, "
        'skipping 2 keys (left as initialised): conv_seg: checkpoint has 19 '
        'classes, the config 150\n'
        'conv_seg.weight: checkpoint shape (19, 8, 1, 1), the config '
        '(150, 8, 1, 1)\n'
        'conv_seg.bias: checkpoint shape (19,), the config (150,)')
