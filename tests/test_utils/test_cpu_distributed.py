"""``setup_cpu_distributed``: DDP with MMEngine's Runner on the CPU."""
import socket

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.device import get_device

from mmseg_ocr_plus.utils.cpu_distributed import setup_cpu_distributed
from mmseg_ocr_plus.utils.preflight import InvalidInputError

pytestmark = pytest.mark.skipif(
    get_device() != 'cpu', reason='MMEngine handles accelerators itself')


def test_not_distributed_is_left_alone():
    cfg = Config(dict(launcher='none'))
    assert not setup_cpu_distributed(cfg)
    assert 'model_wrapper_cfg' not in cfg


def test_slurm_on_cpu_is_refused():
    with pytest.raises(InvalidInputError, match='--launcher slurm: expected '
                       '--launcher pytorch'):
        setup_cpu_distributed(Config(dict(launcher='slurm')))


@pytest.fixture
def one_process_group(monkeypatch):
    """torchrun's variables for a world of one; the group is destroyed."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    for name, value in dict(
            MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK='0',
            LOCAL_RANK='0', WORLD_SIZE='1').items():
        monkeypatch.setenv(name, value)
    yield
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def test_pytorch_launcher_on_cpu(one_process_group):
    cfg = Config(
        dict(
            launcher='pytorch',
            env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60))))
    assert setup_cpu_distributed(cfg)
    assert torch_dist.get_backend() == 'gloo'  # NCCL needs CUDA
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    assert cfg.model_wrapper_cfg.device_ids is None
    # What the Runner then builds works on a CPU module.
    model = torch.nn.parallel.DistributedDataParallel(
        torch.nn.Linear(2, 2),
        device_ids=cfg.model_wrapper_cfg.device_ids)
    model(torch.ones(1, 2)).sum().backward()


def test_ddp_wrapper_config_gets_no_device_ids(one_process_group):
    cfg = Config(
        dict(
            launcher='pytorch',
            model_wrapper_cfg=dict(
                type='MMDistributedDataParallel',
                find_unused_parameters=True)))
    setup_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel',
        find_unused_parameters=True,
        device_ids=None)
