"""``tools/analysis_tools/zoo_benchmark.py`` end to end on the demo data.

A demo "zoo" made here: a test metafile of four models on a shrunk demo
config: ours (our layout, published figures under ``MMSeg Zoo``), MMSeg's
stock OCRNet (MMSeg's layout), one whose checkpoint URL cannot be reached
and one whose checkpoint has 8 classes for the config's 19. The checkpoints
are freshly initialised models, saved in a directory under the names the
"zoo" URLs give them. The benchmark runs beside ``tools/test.py`` on our
checkpoint, the independent evaluation its figures are checked against.
"""
import hashlib
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from mmengine.config import Config
from mmseg.registry import MODELS

from mmseg_ocr_plus.utils.preflight import InvalidInputError
from mmseg_ocr_plus.utils.zoo_benchmark import stock_model_cfg

REPO = Path(__file__).resolve().parents[2]
ZOO_URL = 'http://127.0.0.1:9/zoo'  # connection refused, online or not


def tiny_config(path: Path, demo_config: Path, data_root: Path) -> Path:
    """The demo config at the test's sizes: one-scale ms+flip, 32x32 crops
    (training step), no loader workers."""
    path.write_text(f"""_base_ = [{str(demo_config)!r}]
data_root = {str(data_root)!r}
test_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='LoadAnnotationsChecked'),
    dict(type='PackSegInputs'),
]
tta_pipeline = [
    dict(type='LoadImageFromFileChecked'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=1.0, keep_ratio=True)],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotationsChecked')],
        [dict(type='PackSegInputs')]]),
]
test_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline,
                 serialize_data=False))
val_dataloader = test_dataloader
train_dataloader = dict(batch_size=2)
model = dict(data_preprocessor=dict(size=(32, 32)))
""")
    return path


def save_model(model_cfg: dict, path: Path, seed: int) -> str:
    """A freshly initialised model's checkpoint; returns its sha256."""
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg)
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def entry(name: str, config: Path, weights: str, layout: str) -> dict:
    """A metafile entry in our layout or MMSeg's."""
    meta = {
        'Architecture': ['HRNetV2p-W18-Small', 'OCRNet'],
        'Training Data': 'Cityscapes', 'Batch Size': 8,
        'Crop Size': '128x128', 'Lr schd': 200, 'Parameters (M)': 1.0,
        'GMACs': 1.0
    }
    if layout == 'ours':
        return {'Name': name, 'Config': str(config), 'Metadata': meta,
                'Results': [], 'MMSeg Zoo': {
                    'mIoU': 40.0, 'mIoU(ms+flip)': 41.0,
                    'Memory (GB)': 0.5, 'Inf time (fps)': 9.0,
                    'Weights': weights}}
    return {'Name': name, 'Config': str(config),
            'Metadata': {**meta, 'Memory (GB)': 0.6},
            'Results': {'Task': 'Semantic Segmentation',
                        'Dataset': 'Cityscapes',
                        'Metrics': {'mIoU': 30.0, 'mIoU(ms+flip)': 31.0}},
            'Weights': weights}


@pytest.fixture(scope='module')
def zoo(tmp_path_factory, demo_config, demo_data_root) -> dict:
    """The demo zoo: configs, checkpoints, metafile."""
    root = tmp_path_factory.mktemp('zoo')
    config = tiny_config(root / 'ocrnet_demo.py', demo_config,
                         demo_data_root)
    cfg = Config.fromfile(config)
    stock = cfg.copy()
    stock.model = stock_model_cfg(cfg.model.to_dict())
    stock_config = root / 'ocrnet_stock_demo.py'
    stock.dump(str(stock_config))
    checkpoints = root / 'checkpoints'
    checkpoints.mkdir()
    # Ours under the zoo's naming: the sha256 prefix in the name.
    sha = save_model(cfg.model, checkpoints / 'tmp.pth', seed=0)
    ours = checkpoints / f'demo_ours_20260101-{sha[:8]}.pth'
    (checkpoints / 'tmp.pth').rename(ours)
    save_model(stock.model, checkpoints / 'demo_stock.pth', seed=1)
    eight = cfg.model.copy()
    eight.decode_head = [dict(h, num_classes=8) for h in eight.decode_head]
    save_model(eight, checkpoints / 'demo_8classes.pth', seed=2)
    metafile = root / 'metafile.yaml'
    metafile.write_text('# A demo zoo.\n' + yaml.safe_dump({'Models': [
        entry('demo_ours', config, f'{ZOO_URL}/{ours.name}', 'ours'),
        entry('demo_stock', stock_config, f'{ZOO_URL}/demo_stock.pth',
              'mmseg'),
        entry('demo_missing', config, f'{ZOO_URL}/demo_missing.pth',
              'mmseg'),
        entry('demo_wrong_classes', config, f'{ZOO_URL}/demo_8classes.pth',
              'ours'),
    ]}, sort_keys=False))
    return dict(root=root, config=config, stock_config=stock_config,
                checkpoints=checkpoints, ours=ours, metafile=metafile,
                metafile_before=yaml.safe_load(metafile.read_text()))


@pytest.fixture(scope='module')
def runs(zoo, selected_tests, start_tool, finish_tool) -> dict:
    """The benchmark of the demo zoo and ``tools/test.py`` on our
    checkpoint, started together."""
    started = {}
    if {'test_table_json_and_plots', 'test_metafile_round_trip',
            'test_one_line_per_failed_model'} & selected_tests:
        started['bench'] = start_tool(
            'analysis_tools/zoo_benchmark', '--models', 'demo_*',
            '--metafile', zoo['metafile'], '--checkpoints',
            zoo['checkpoints'], '--data-root',
            Config.fromfile(zoo['config']).data_root, '--work-dir',
            zoo['root'] / 'out', '--tta', '--train-step', '--device', 'cpu',
            '--fps-warmup', 1, '--fps-repeats', 2, '--train-repeats', 1,
            '--update-metafile', zoo['metafile'])
    if 'test_table_json_and_plots' in selected_tests:
        started['test'] = start_tool('test', zoo['config'], zoo['ours'],
                                     '--work-dir', zoo['root'] / 'test')
    return {name: finish_tool(proc) for name, proc in started.items()}


def records(zoo) -> dict:
    report = json.loads((zoo['root'] / 'out/zoo_benchmark.json').read_text())
    return report, {r['name']: r for r in report['models']}


def labelled_pixels(data_root: Path) -> int:
    """Pixels of the val label maps that are not ignored (255)."""
    total = 0
    for path in sorted((data_root / 'gtFine/val').rglob('*.png')):
        total += int((cv2.imread(str(path), cv2.IMREAD_UNCHANGED) != 255)
                     .sum())
    return total


def test_one_line_per_failed_model(runs, zoo):
    result = runs['bench']
    assert result.returncode == 2, result.stderr
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    missing = [ln for ln in lines if ln.startswith(
        'zoo_benchmark.py: demo_missing: ')]
    assert len(missing) == 1
    assert re.search(
        rf'checkpoint {re.escape(ZOO_URL)}/demo_missing.pth could not be '
        r'downloaded \(.+\); download it where the network allows and pass '
        r'the file with --checkpoints /path/to/demo_missing.pth, or a '
        'directory holding demo_missing.pth$', missing[0]), missing[0]
    wrong = [ln for ln in lines if ln.startswith(
        'zoo_benchmark.py: demo_wrong_classes: ')]
    assert len(wrong) == 1 and 'demo_8classes.pth does not fit' in wrong[0]
    assert '8 classes, the config 19' in wrong[0], wrong[0]
    assert lines[-1].startswith(
        'zoo_benchmark.py: error: 2 of 4 models not benchmarked '
        '(demo_missing, demo_wrong_classes)')
    _, by_name = records(zoo)
    assert by_name['demo_missing']['error'] in missing[0]


def test_table_json_and_plots(runs, zoo, demo_data_root):
    assert runs['test'].returncode == 0, runs['test'].stderr[-3000:]
    reference = json.loads(
        next((zoo['root'] / 'test').glob('*/*.json')).read_text())
    report, by_name = records(zoo)
    assert {'torch', 'mmseg', 'device', 'threads'} <= set(
        report['environment'])
    assert report['environment']['device'] == 'cpu'
    assert "--models 'demo_*'" in report['command']
    ours, stock = by_name['demo_ours'], by_name['demo_stock']

    # Same figures as tools/test.py on the same checkpoint.
    assert ours['mIoU'] == pytest.approx(reference['mIoU'], abs=0.01)
    assert ours['aAcc'] == pytest.approx(reference['aAcc'], abs=0.01)
    # The confusion matrix holds every labelled pixel; aAcc and the
    # per-class IoU are read off it.
    for record in (ours, stock):
        matrix = np.array(record['confusion_matrix'])
        assert matrix.shape == (19, 19)
        assert matrix.sum() == labelled_pixels(demo_data_root)
        assert record['aAcc'] == pytest.approx(
            np.trace(matrix) / matrix.sum() * 100, abs=0.01)
        ious = np.array([np.nan if v is None else v
                         for v in record['per_class_iou'].values()])
        assert record['mIoU'] == pytest.approx(np.nanmean(ious), abs=0.02)
    assert ours['per_class_iou'] != stock['per_class_iou']  # two models

    # Provenance: the file read, its sha256, the zoo URL it stands for.
    assert ours['checkpoint'] == str(zoo['ours'])
    assert ours['sha256'] == hashlib.sha256(
        zoo['ours'].read_bytes()).hexdigest()
    assert ours['sha256_matches_name'] is True
    assert stock['sha256_matches_name'] is None

    # Speed and memory, at the test pipeline's size.
    for record in (ours, stock):
        assert record['fps'] > 0 and record['peak_memory_mb'] is not None
        assert record['inference']['input_shape'] == [64, 128]
        assert len(record['inference']['times_s']) == 2
        assert 'mIoU(ms+flip)' in record
    assert ours['train_step']['type'] == 'OCRCascadeEncoderDecoder'
    assert ours['train_step_stock']['type'] == 'CascadeEncoderDecoder'
    assert ours['train_step']['batch_size'] == 2
    assert ours['train_step']['size'] == [32, 32]
    assert stock['train_step']['type'] == 'CascadeEncoderDecoder'
    assert 'train_step_stock' not in stock  # already MMSeg's

    # Published vs measured: the deltas and the table's cells.
    assert ours['published']['mIoU'] == 40.0
    assert stock['published'] == {'mIoU': 30.0, 'mIoU(ms+flip)': 31.0,
                                  'Memory (GB)': 0.6}
    table = (zoo['root'] / 'out/zoo_benchmark.md').read_text()
    for record in (ours, stock):
        delta = round(record['mIoU'] - record['published']['mIoU'], 2)
        assert record['delta']['mIoU'] == delta
        row = next(ln for ln in table.splitlines()
                   if ln.startswith(f"| {record['source']} | "
                                    f"{record['name']} |"))
        assert (f"{record['published']['mIoU']} / {record['mIoU']} "
                f'({delta:+.2f})') in row
    assert ours['delta']['Inf time (fps)'] == round(ours['fps'] - 9.0, 2)
    assert '- demo_missing: demo_missing: checkpoint' in table

    # Pictures: per model, and the side by side chart.
    for record in (ours, stock):
        names = sorted(Path(p).name for p in record['plots'])
        assert names == ['confusion_matrix_0.png', 'per_class_iou_0.png']
        for path in record['plots']:
            assert cv2.imread(path) is not None, path
    assert cv2.imread(report['comparison_plot']) is not None


def test_metafile_round_trip(runs, zoo, load_tool):
    assert runs['bench'].returncode == 2  # the two failed models
    _, by_name = records(zoo)
    after = {m['Name']: m
             for m in yaml.safe_load(zoo['metafile'].read_text())['Models']}
    before = {m['Name']: m for m in zoo['metafile_before']['Models']}
    assert zoo['metafile'].read_text().startswith('# A demo zoo.\n')
    # Ours: the measured figures, with provenance; the zoo's untouched.
    (result, ) = after['demo_ours']['Results']
    ours = by_name['demo_ours']
    assert result['Metrics']['mIoU'] == ours['mIoU']
    assert result['Metrics']['mIoU(ms+flip)'] == ours['mIoU(ms+flip)']
    assert result['Metrics']['Inf time (fps)'] == ours['fps']
    assert result['Provenance']['sha256'] == ours['sha256']
    assert result['Provenance']['Device'].startswith('cpu')
    assert result['Provenance']['Split'] == 'leftImg8bit/val'
    assert result['Provenance']['JSON'].endswith('zoo_benchmark.json')
    assert after['demo_ours']['MMSeg Zoo'] == before['demo_ours'][
        'MMSeg Zoo']
    # MMSeg's layout (published Results) and failed models: unchanged.
    for name in ('demo_stock', 'demo_missing', 'demo_wrong_classes'):
        assert after[name] == before[name], name
    # The README's "our" column renders the measured figure.
    table = load_tool('misc/results_table')
    rows = [ln for ln in table.render(zoo['metafile'])
            if ln.startswith('| OCRNet')]
    cells = [c.strip() for c in rows[0].strip('|').split('|')]
    assert cells[6] == '40.0' and cells[10] == str(ours['mIoU'])
    assert cells[11] == str(ours['mIoU(ms+flip)'])


@pytest.mark.parametrize('layout', ['missing', 'empty'])
def test_dataset_without_images(layout, tmp_path, zoo, load_tool):
    data_root = tmp_path / 'data'
    if layout == 'empty':  # the directories, no images
        for sub in ('leftImg8bit/val', 'gtFine/val'):
            (data_root / sub).mkdir(parents=True)
    # One line naming the data root: the preflight's, else the tool's.
    expected = ('images' if layout == 'empty' else
                'expected the dataset directory')
    with pytest.raises(InvalidInputError,
                       match=f'{re.escape(str(data_root))}.*') as info:
        load_tool('analysis_tools/zoo_benchmark').main([
            '--configs', str(zoo['config']), '--checkpoints',
            str(zoo['ours']), '--data-root', str(data_root), '--work-dir',
            str(tmp_path / 'out')
        ])
    assert expected in str(info.value) and '\n' not in str(info.value)
    assert not (tmp_path / 'out').exists()


def test_checkpoints_one_per_config(tmp_path, zoo, load_tool):
    with pytest.raises(InvalidInputError,
                       match=r'expected one per config \(2\) or one '
                       'directory, got 3'):
        load_tool('analysis_tools/zoo_benchmark').main([
            '--configs', str(zoo['config']), str(zoo['stock_config']),
            '--checkpoints', *[str(zoo['ours'])] * 3, '--data-root',
            str(tmp_path), '--work-dir', str(tmp_path / 'out')
        ])


def test_configs_share_a_directory_of_checkpoints(zoo, load_tool):
    tool = load_tool('analysis_tools/zoo_benchmark')
    args = tool.parse_args([
        '--configs', str(zoo['config']), str(zoo['stock_config']),
        '--checkpoints', str(zoo['checkpoints']), '--data-root', 'd',
        '--work-dir', 'o'
    ])
    selected = tool.select_models(args)
    assert [(m.name, m.source, m.published, given) for m, given in selected
            ] == [(Path(c).stem, 'local', {}, str(zoo['checkpoints']))
                  for c in (zoo['config'], zoo['stock_config'])]
