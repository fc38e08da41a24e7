"""``configs/ocrnet_plus/official/metafile.yaml`` covers every official
config once, names the converter layout that matches it, and keeps our
results empty until measured."""
from pathlib import Path

import yaml

from mmseg_ocr_plus.converters import LAYOUTS

ROOT = Path(__file__).parents[2]
OFFICIAL = ROOT / 'configs/ocrnet_plus/official'
MODELS_META = yaml.safe_load(
    (OFFICIAL / 'metafile.yaml').read_text())['Models']


def test_every_official_config_has_one_entry():
    configs = sorted(OFFICIAL.glob('*.py'))
    assert sorted(m['Config'] for m in MODELS_META) == [
        str(p.relative_to(ROOT)) for p in configs
    ]
    assert [m['Name'] for m in MODELS_META] == [
        Path(m['Config']).stem for m in MODELS_META
    ]


def test_layouts_name_the_config():
    for model in MODELS_META:
        layout = LAYOUTS[model['Official']['Layout']]
        assert Path(model['Config']).name in layout.configs.values()


def test_published_numbers_are_quoted_with_their_source():
    for model in MODELS_META:
        official = model['Official']
        assert official['Source']
        if official['Weights']:
            # a direct link, or a folder link and the file's name
            assert (official.get('File') or official['Weights']).endswith(
                '.pth')
            assert official['mIoU']
        assert model['Results'] == []
