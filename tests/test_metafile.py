"""``configs/ocrnet_plus/metafile.yaml`` covers every config, quotes MMSeg's
zoo as MMSeg publishes it, holds our measured params and GMACs, and the
README's results tables are rendered from it."""
import importlib.util
from pathlib import Path

import mmseg
import pytest
import yaml
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmseg.registry import MODELS

from mmseg_ocr_plus.utils import model_complexity

ROOT = Path(__file__).parents[1]
MODELS_META = yaml.safe_load(
    (ROOT / 'configs/ocrnet_plus/metafile.yaml').read_text())['Models']
MMSEG_META = yaml.safe_load(
    (Path(mmseg.__file__).parent /
     '.mim/configs/ocrnet/metafile.yaml').read_text())['Models']


def load_results_table():
    spec = importlib.util.spec_from_file_location(
        'results_table', ROOT / 'tools/misc/results_table.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_config_has_one_entry():
    configs = sorted((ROOT / 'configs/ocrnet_plus').glob('*.py'))
    assert sorted(m['Config'] for m in MODELS_META) == [
        str(p.relative_to(ROOT)) for p in configs
    ]
    assert [m['Name'] for m in MODELS_META] == [
        Path(m['Config']).stem for m in MODELS_META
    ]


def test_readme_tables_are_rendered_from_the_metafile():
    table = load_results_table()
    assert table.main(['--check']) == 0
    rows = [ln for ln in table.render() if ln.startswith('| OCRNet')]
    assert len(rows) == len(MODELS_META)


def test_our_mIoU_columns_are_empty_until_measured():
    assert all(m['Results'] == [] for m in MODELS_META)


@pytest.mark.parametrize(
    'model', [m for m in MODELS_META if 'MMSeg Zoo' in m],
    ids=lambda m: m['Name'])
def test_zoo_figures_are_mmseg_published_ones(model):
    zoo = model['MMSeg Zoo']
    # MMSeg's metafile names two ADE20K 160k models '-80k-': match by config
    # stem or weights, and by mIoU.
    matches = [
        m for m in MMSEG_META if m['Weights'] == zoo['Weights']
        and m['Results']['Metrics']['mIoU'] == zoo['mIoU']
    ]
    assert len(matches) == 1
    published = matches[0]
    assert Path(zoo['Config']).name.split('_')[1] == model['Name'].split(
        '_')[1]  # same backbone
    assert published['Results']['Metrics'].get('mIoU(ms+flip)') == zoo.get(
        'mIoU(ms+flip)')
    assert published['Metadata'].get('Memory (GB)') == zoo.get('Memory (GB)')
    lr_schd = model['Metadata']['Lr schd'] // 1000
    assert f'{lr_schd}k' in zoo['Weights'] or 'r101-d8_8xb2' in model['Name']


def test_params_are_measured():
    seen = {}
    for model in MODELS_META:
        key = (model['Metadata']['Architecture'][0],
               model['Metadata']['Training Data'])
        if key in seen:
            assert model['Metadata']['Parameters (M)'] == seen[key]
            continue
        cfg = Config.fromfile(ROOT / model['Config'])
        cfg.model.pretrained = None
        built = MODELS.build(cfg.model)
        params = sum(p.numel() for p in built.parameters())
        seen[key] = round(params / 1e6, 2)
        assert model['Metadata']['Parameters (M)'] == seen[key]


def test_gmacs_are_measured_hr18s():
    model = MODELS_META[0]
    assert model['Name'] == 'ocrnet_hr18s_4xb2-40k_cityscapes-512x1024'
    assert model['Metadata']['GMACs Input'] == '1x3x512x1024'
    cfg = Config.fromfile(ROOT / model['Config'])
    cfg.model.pretrained = None
    built = revert_sync_batchnorm(MODELS.build(cfg.model))
    result = model_complexity(built, (1, 3, 512, 1024))
    assert round(result.macs / 1e9, 2) == model['Metadata']['GMACs']
