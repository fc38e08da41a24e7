"""How a checkpoint's state dict differs from a model's, in one line."""
import torch

from mmseg_ocr_plus.utils.state_dict_check import compare_state_dicts


def zeros(*shape):
    return torch.zeros(shape)


def test_identical_state_dicts_match():
    state = {'a.weight': zeros(2, 3), 'a.bias': zeros(2)}
    mismatch = compare_state_dicts(state, dict(state))
    assert not mismatch
    assert mismatch.summary() == '' and mismatch.skipped() == []


def test_classifiers_of_every_head_are_one_group():
    model = {
        f'decode_head.{i}.conv_seg.{p}': zeros(150, *rest)
        for i in (0, 1) for p, rest in (('weight', (4, 1, 1)), ('bias', ()))
    }
    checkpoint = {
        f'decode_head.{i}.conv_seg.{p}': zeros(19, *rest)
        for i in (0, 1) for p, rest in (('weight', (4, 1, 1)), ('bias', ()))
    }
    mismatch = compare_state_dicts(model, checkpoint)
    assert mismatch.summary() == (
        'decode_head.*.conv_seg: checkpoint has 19 classes, the config 150')
    assert len(mismatch.skipped()) == 4
    # One head only: named as it is.
    checkpoint['decode_head.0.conv_seg.weight'] = zeros(150, 4, 1, 1)
    checkpoint['decode_head.0.conv_seg.bias'] = zeros(150)
    assert compare_state_dicts(model, checkpoint).summary() == (
        'decode_head.1.conv_seg: checkpoint has 19 classes, the config 150')


def test_other_shapes_missing_and_unexpected_keys():
    model = {
        'backbone.conv1.weight': zeros(8, 3, 3, 3),
        'backbone.conv2.weight': zeros(8, 8, 3, 3),
        **{f'head.blocks.{i}.weight': zeros(1)
           for i in range(5)},
        'head.extra.weight': zeros(1),
    }
    checkpoint = {
        'module.backbone.conv1.weight': zeros(8, 4, 3, 3),
        'backbone.conv2.weight': zeros(8, 8, 3, 3),
        'old.weight': zeros(1),
    }
    mismatch = compare_state_dicts(model, checkpoint)
    assert mismatch.summary() == (
        'backbone.conv1.weight: checkpoint shape (8, 4, 3, 3), the config '
        '(8, 3, 3, 3); 6 keys missing from the checkpoint (head.blocks.* '
        "(5 keys), head.extra.weight); 1 key not in the config's model "
        '(old.weight)')
    assert mismatch.skipped()[0] == (
        'backbone.conv1.weight: checkpoint shape (8, 4, 3, 3), the config '
        '(8, 3, 3, 3)')
    assert 'old.weight: not in the config\'s model' in mismatch.skipped()
