"""Metafile lookup over MMSeg's metafiles and ours, and the write-back of
measured results that never touches the published figures."""
import fnmatch
import shutil
from pathlib import Path

import pytest
import yaml

from mmseg_ocr_plus.utils.zoo_benchmark import (
    find_models,
    load_metafile,
    lookup_model,
    mmseg_metafiles,
    update_metafile,
)

ROOT = Path(__file__).resolve().parents[2]
OURS = ROOT / 'configs/ocrnet_plus/metafile.yaml'


def test_glob_picks_ours_and_mmseg_models():
    pattern = 'ocrnet_hr18*cityscapes*'
    found = find_models(pattern, [OURS, *mmseg_metafiles()])
    ours = sorted(m.config.name for m in found if m.source == 'ours')
    # Independently: our config files matching the glob.
    assert ours == sorted(
        p.name for p in (ROOT / 'configs/ocrnet_plus').glob('*.py')
        if fnmatch.fnmatchcase(p.stem, pattern))
    mmseg = [m for m in found if m.source == 'mmseg']
    assert {m.config.parent.name for m in mmseg} == {'ocrnet'}
    assert all(m.config.is_file() for m in found)
    assert all('ade20k' not in m.name and 'hr48' not in m.name
               for m in found)
    # The zoo's own 40k HRNet-W18 model: published figures and weights.
    zoo = next(m for m in mmseg
               if m.name == 'ocrnet_hr18_4xb2-40k_cityscapes-512x1024')
    raw = next(r for r in yaml.safe_load(
        (zoo.metafile).read_text())['Models'] if r['Name'] == zoo.name)
    assert zoo.published['mIoU'] == raw['Results']['Metrics']['mIoU']
    assert zoo.published['Memory (GB)'] == raw['Metadata']['Memory (GB)']
    assert zoo.weights == raw['Weights']
    assert (zoo.crop_size, zoo.lr_schd, zoo.dataset) == ('512x1024',
                                                          '40000',
                                                          'cityscapes')


def test_no_match_is_one_clear_error():
    with pytest.raises(ValueError, match="--models 'nope\\*': expected"):
        find_models('nope*', [OURS])


def test_lookup_by_config_file():
    config = ROOT / 'configs/ocrnet_plus/ocrnet_hr18s_4xb2-40k_cityscapes-512x1024.py'  # noqa: E501
    model = lookup_model(config, [OURS])
    assert model.source == 'ours' and model.config == config
    assert model.published['mIoU'] == 76.61  # quoted under MMSeg Zoo
    assert lookup_model(ROOT / 'setup.py', [OURS]) is None


def result(miou: float, device: str = 'cpu') -> dict:
    return dict(
        Task='Semantic Segmentation',
        Dataset='Cityscapes',
        Metrics={'mIoU': miou},
        Provenance=dict(Split='leftImg8bit/val', Device=device))


def test_update_metafile_writes_results_only(tmp_path):
    path = tmp_path / 'metafile.yaml'
    shutil.copy(OURS, path)
    before = yaml.safe_load(path.read_text())
    # No results: byte for byte the same file (comments kept).
    update_metafile(path, {})
    assert path.read_text() == OURS.read_text()
    index, name = next((i, m['Name'])
                       for i, m in enumerate(before['Models'])
                       if 'MMSeg Zoo' in m)
    update_metafile(path, {name: result(1.5)})
    update_metafile(path, {name: result(2.5)})  # replaces
    update_metafile(path, {name: result(3.5, 'cuda')})  # another device
    after = yaml.safe_load(path.read_text())
    assert path.read_text().startswith('# Configs of mmseg-ocr-plus.')
    assert [r['Metrics']['mIoU'] for r in after['Models'][index]['Results']
            ] == [2.5, 3.5]
    for old, new in zip(before['Models'], after['Models']):
        assert old.get('MMSeg Zoo') == new.get('MMSeg Zoo')
        if new['Name'] != name:
            assert old == new
    assert [m.published for m in load_metafile(path)
            ] == [m.published for m in load_metafile(OURS)]
    with pytest.raises(ValueError, match='expected a model listed'):
        update_metafile(path, {'nope': result(1.0)})


def test_update_refuses_published_results(tmp_path):
    path = tmp_path / 'metafile.yaml'
    shutil.copy(mmseg_metafiles()[0], path)
    name = yaml.safe_load(path.read_text())['Models'][0]['Name']
    text = path.read_text()
    with pytest.raises(ValueError, match='never overwritten'):
        update_metafile(path, {name: result(1.0)})
    assert path.read_text() == text
