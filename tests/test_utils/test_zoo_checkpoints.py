"""Where the benchmark's checkpoints come from, and the checks on them."""
import hashlib

import pytest
import torch

from mmseg_ocr_plus.utils.state_dict_check import CheckpointMismatchError
from mmseg_ocr_plus.utils.zoo_benchmark import (
    CheckpointUnavailableError,
    check_state_dict,
    resolve_checkpoint,
    sha256sum,
    zoo_hash_prefix,
)

# Connection refused at once, online or not.
UNREACHABLE = 'http://127.0.0.1:9/zoo/ocrnet_demo_20200101-0123abcd.pth'


def test_file_directory_and_url(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    zoo_named = tmp_path / 'ocrnet_demo_20200101-0123abcd.pth'
    zoo_named.write_bytes(b'x')
    assert resolve_checkpoint('m', str(zoo_named), None) == (zoo_named,
                                                             str(zoo_named))
    # A directory: the zoo's file name first, then <name>.pth.
    assert resolve_checkpoint('m', str(tmp_path), UNREACHABLE)[0] == zoo_named
    (tmp_path / 'other.pth').write_bytes(b'y')
    assert resolve_checkpoint('other', str(tmp_path),
                              None)[0] == tmp_path / 'other.pth'
    # Already in torch.hub's cache: no download.
    cached = tmp_path / 'hub/checkpoints' / zoo_named.name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b'z')
    assert resolve_checkpoint('m', None, UNREACHABLE) == (cached,
                                                          UNREACHABLE)


def test_download_failure_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    with pytest.raises(CheckpointUnavailableError) as info:
        resolve_checkpoint('demo', None, UNREACHABLE)
    message = str(info.value)
    assert '\n' not in message
    assert message.startswith(f'demo: checkpoint {UNREACHABLE} could not be '
                              'downloaded (')
    assert message.endswith(
        '--checkpoints /path/to/ocrnet_demo_20200101-0123abcd.pth, or a '
        'directory holding ocrnet_demo_20200101-0123abcd.pth')
    # Not in a directory either: the URL is tried, and named.
    with pytest.raises(CheckpointUnavailableError, match='could not be'):
        resolve_checkpoint('demo', str(tmp_path), UNREACHABLE)
    with pytest.raises(CheckpointUnavailableError, match='expected a file'):
        resolve_checkpoint('demo', str(tmp_path / 'none.pth'), None)
    with pytest.raises(CheckpointUnavailableError, match='demo.pth in'):
        resolve_checkpoint('demo', str(tmp_path), None)


def test_sha256_and_zoo_prefix(tmp_path):
    path = tmp_path / 'a.pth'
    path.write_bytes(b'abc' * 1000)
    assert sha256sum(path) == hashlib.sha256(b'abc' * 1000).hexdigest()
    assert zoo_hash_prefix(UNREACHABLE) == '0123abcd'
    assert zoo_hash_prefix('ocrnet.pth') is None


def test_mismatch_names_the_classes():
    model = torch.nn.Module()
    model.conv_seg = torch.nn.Conv2d(4, 19, 1)
    state = {'conv_seg.weight': torch.zeros(8, 4, 1, 1),
             'conv_seg.bias': torch.zeros(8)}
    with pytest.raises(CheckpointMismatchError,
                       match='checkpoint c.pth does not fit .*8 classes, '
                       'the config 19'):
        check_state_dict(model, state, 'c.pth')
    check_state_dict(model, model.state_dict(), 'c.pth')  # fits
