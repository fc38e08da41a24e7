"""Strict checkpoint loading: a checkpoint whose weights do not match the
model stops the run, unless a partial load is asked for.

MMEngine's ``Runner.load_checkpoint`` (``load_from``, ``--resume``) loads
with ``strict=False``: mismatched keys become a logged warning and the run
goes on with them as initialised. This hook checks the checkpoint in
``after_load_checkpoint``, which the ``Runner`` calls between reading the
file and loading it into the model, with
:func:`~mmseg_ocr_plus.utils.state_dict_check.compare_state_dicts`.
"""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import Runner
from mmseg.registry import HOOKS

from ...utils.state_dict_check import (
    CheckpointMismatchError,
    compare_state_dicts,
)

__all__ = ['CheckpointMatchHook']


@HOOKS.register_module()
class CheckpointMatchHook(Hook):
    """Raise :class:`CheckpointMismatchError` for a loaded checkpoint whose
    keys or shapes differ from the model's; with ``allow_partial``, log
    every key that MMEngine's lenient load skips instead.

    ``tools/train.py`` and ``tools/test.py`` add it; ``--allow-partial``
    sets ``allow_partial``. Priority ``'LOWEST'``: it sees the checkpoint
    after every other hook's ``after_load_checkpoint`` has changed it.

    Args:
        checkpoint (str, optional): The file the run loads, named in the
            messages. Defaults to None ("the checkpoint").
        allow_partial (bool): Load the matching keys only, as MMEngine does.
            Defaults to False.
    """
    priority = 'LOWEST'

    def __init__(self,
                 checkpoint: Optional[str] = None,
                 allow_partial: bool = False) -> None:
        self.checkpoint = checkpoint
        self.allow_partial = allow_partial

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        model = runner.model
        # The model the weights go to, as MMEngine's load_state_dict finds
        # it: inside DDP and test-time augmentation (tools/test.py --tta).
        while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
            model = model.module
        mismatch = compare_state_dicts(
            model.state_dict(), checkpoint.get('state_dict', checkpoint))
        if not mismatch:
            return
        name = (f'checkpoint {self.checkpoint!r}'
                if self.checkpoint else 'the checkpoint')
        if not self.allow_partial:
            raise CheckpointMismatchError(
                f"{name} does not match the config's model: "
                f'{mismatch.summary()}; to load only the matching weights '
                '(fine-tuning), pass --allow-partial')
        skipped = mismatch.skipped()
        runner.logger.warning(
            f'--allow-partial: loading {name} partially, skipping '
            f'{len(skipped)} keys (left as initialised): '
            f'{mismatch.summary()}\n' + '\n'.join(skipped))
