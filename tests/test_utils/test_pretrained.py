"""Failed downloads of pretrained weights raise one clear error."""
import socket

import pytest
from mmengine.runner.checkpoint import CheckpointLoader

from mmseg_ocr_plus.utils import (
    InvalidInputError,
    PretrainedDownloadError,
    checkpoint_url,
    explain_download_errors,
)


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
    assert isinstance(info.value, InvalidInputError)  # tools: one line
    assert '\n' not in message
    assert url in message and 'Connection refused' in message
    assert ('--cfg-options model.pretrained=/path/to/'
            'hrnetv2_w48-d2186c55.pth') in message
    assert 'checkpoints/hrnetv2_w48-d2186c55.pth' in message  # torch hub
    assert message.endswith('--cfg-options model.pretrained=None')


def test_local_files_and_wrapping_twice_are_left_alone(tmp_path):
    assert explain_download_errors()  # already applied on import
    assert explain_download_errors()
    with pytest.raises(FileNotFoundError):  # not a download: unchanged
        CheckpointLoader.load_checkpoint(str(tmp_path / 'missing.pth'))
