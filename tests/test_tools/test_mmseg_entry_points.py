"""The plugin through MMSeg's own ``tools/train.py`` (what ``mim train
mmsegmentation`` runs), with nothing but the config's ``custom_imports``;
and a clear stop when the pretrained weights cannot be downloaded."""
import socket
import sys
from pathlib import Path

import mmseg
import pytest

MMSEG_TRAIN = Path(mmseg.__file__).parent / '.mim' / 'tools' / 'train.py'


def closed_port_url() -> str:
    """A URL on a local port that nobody listens on: refused at once."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f'http://127.0.0.1:{port}/hrnetv2_w18_small-b5a04e21.pth'


@pytest.fixture(scope='module')
def runs(tmp_path_factory, start_tool, finish_tool, tool_env, demo_config,
         tiny_options, demo_data_root):
    """MMSeg's train.py on the demo config, and ours with an unreachable
    pretrained URL, started together."""
    import subprocess
    import tempfile

    root = tmp_path_factory.mktemp('entry_points')
    url = closed_port_url()
    options = tiny_options(demo_data_root, **{'train_cfg.max_iters': 2})
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    mmseg_proc = subprocess.Popen(
        [sys.executable, str(MMSEG_TRAIN), str(demo_config), '--work-dir',
         str(root / 'mmseg'), '--cfg-options', *options],
        cwd=root,  # not the repo: the plugin comes from custom_imports
        env=tool_env,
        stdout=out,
        stderr=err)
    mmseg_proc.output_files = (out, err)
    offline = start_tool('train', demo_config, '--work-dir',
                         root / 'offline', '--cfg-options', *options,
                         f'model.pretrained={url}')
    return dict(
        mmseg=finish_tool(mmseg_proc),
        mmseg_dir=root / 'mmseg',
        offline=finish_tool(offline),
        url=url)


def test_mmseg_train_py_trains_with_custom_imports(runs):
    result = runs['mmseg']
    assert MMSEG_TRAIN.is_file()
    assert result.returncode == 0, result.stderr[-3000:]
    assert (runs['mmseg_dir'] / 'iter_2.pth').is_file()
    dumped = (runs['mmseg_dir'] /
              'ocrnet_hr18s_1xb8-200it_demo-cityscapes-128x128.py').read_text()
    assert "type='OCRCascadeEncoderDecoder'" in dumped


def test_unreachable_pretrained_weights_stop_with_a_clear_message(runs):
    result = runs['offline']
    assert result.returncode == 2, result.stderr[-3000:]
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith('train.py: error: pretrained weights')
    assert runs['url'] in message
    assert '--cfg-options model.pretrained=/path/to/' in message
    assert 'model.pretrained=None' in message
    assert 'Traceback' not in result.stderr
