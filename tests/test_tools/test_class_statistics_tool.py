"""``tools/analysis_tools/class_statistics.py``: the counts of the demo
training set, and a class-weight file that MMSeg's ``CrossEntropyLoss``
loads."""
import json
import shutil

import pytest
import torch
from mmseg.models.losses import CrossEntropyLoss

from mmseg_ocr_plus.datasets.class_statistics import (
    ClassStatisticsError,
    compute_class_weights,
    rarest_classes,
)


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('analysis_tools/class_statistics')


def data_root_option(data_root) -> str:
    return f'train_dataloader.dataset.data_root={data_root}'


def test_weight_file_loads_into_cross_entropy(tool, demo_config,
                                              demo_data_root, tmp_path,
                                              capsys):
    result = tool.main([
        str(demo_config), '--scheme', 'median_frequency',
        '--num-rare-classes', '3', '--out-dir',
        str(tmp_path), '--cfg-options',
        data_root_option(demo_data_root)
    ])
    out = capsys.readouterr().out
    counts = json.loads((tmp_path / 'class_statistics.json').read_text())
    assert counts['num_images'] == 8 and counts['num_classes'] == 19
    assert sum(counts['pixel_counts']) > 0
    weights = compute_class_weights(counts, 'median_frequency')
    assert result['class_weights'] == weights
    assert len(set(weights)) > 2  # weights that differ between classes

    path = tmp_path / 'class_weight_median_frequency.json'
    assert json.loads(path.read_text()) == weights  # a plain list
    loss = CrossEntropyLoss(class_weight=str(path))  # MMSeg loads the file
    assert loss.class_weight == weights
    scores = torch.randn(2, 19, 4, 4)
    labels = torch.randint(0, 19, (2, 4, 4))
    labels[:, 0] = 255
    assert torch.isfinite(loss(scores, labels, ignore_index=255))

    assert 'Class statistics of the training set: 8 images' in out
    assert f"In the config: class_weight='{path}'" in out
    rare = rarest_classes(counts, 3)
    assert result['rare_classes'] == rare and len(rare) == 3
    assert f'In the config: rare_classes={rare}' in out


def test_scheme_none_writes_counts_only(tool, demo_config, demo_data_root,
                                       tmp_path, capsys):
    result = tool.main([
        str(demo_config), '--scheme', 'none', '--out-dir',
        str(tmp_path), '--cfg-options',
        data_root_option(demo_data_root)
    ])
    assert result['class_weights'] is None and result['rare_classes'] == []
    assert [p.name for p in tmp_path.iterdir()] == ['class_statistics.json']
    assert 'In the config' not in capsys.readouterr().out


def test_bad_option_raises(tool, demo_config):
    with pytest.raises(ClassStatisticsError,
                       match='expected num_rare_classes to be an int >= 0'):
        tool.main([str(demo_config), '--num-rare-classes', '-1'])


def test_bad_label_map_is_one_line_and_status_2(start_tool, finish_tool,
                                                demo_config, demo_data_root,
                                                tmp_path):
    data_root = tmp_path / 'data'
    shutil.copytree(demo_data_root, data_root)
    [label] = sorted(data_root.glob('gtFine/train/*/*_labelTrainIds.png'))[:1]
    label.write_bytes(b'not a png')
    result = finish_tool(
        start_tool('analysis_tools/class_statistics', demo_config,
                   '--out-dir', tmp_path / 'out', '--cfg-options',
                   data_root_option(data_root)))
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        f'class_statistics.py: error: {label}: expected a readable label '
        'map, got ')
    assert not (tmp_path / 'out').exists()
