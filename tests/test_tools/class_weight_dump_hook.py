"""A hook that ``test_class_statistics_run.py`` loads into ``tools/train.py``
runs (the test directory is on ``PYTHONPATH``) to see the class weights that
reached the losses."""
import json
import os.path as osp
from typing import Dict, List, Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmseg.registry import HOOKS
from torch import nn


@HOOKS.register_module()
class ClassWeightDumpHook(Hook):
    """Write each rank's loss class weights after training.

    Writes ``class_weights_rank{rank}.json`` into the work dir: for every
    ``loss_decode`` of the decode heads, its ``class_weight`` (``None`` if
    unset) and the name of its criterion function.
    """

    def after_train(self, runner: Runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        heads = model.decode_head
        if not isinstance(heads, nn.ModuleList):
            heads = [heads]
        dumped: Dict[str, Dict[str, Optional[List[float]]]] = {}
        for i, head in enumerate(heads):
            losses = head.loss_decode
            if not isinstance(losses, nn.ModuleList):
                losses = [losses]
            for j, loss in enumerate(losses):
                dumped[f'decode_head.{i}.loss_decode.{j}'] = dict(
                    class_weight=loss.class_weight,
                    criterion=loss.cls_criterion.__name__)
        path = osp.join(runner.work_dir,
                        f'class_weights_rank{runner.rank}.json')
        with open(path, 'w') as file:
            json.dump(dumped, file)
