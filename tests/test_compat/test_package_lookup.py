"""Tests for :mod:`mmseg_ocr_plus.compat.package_lookup`: ``mmseg::``
config bases without ``pkg_resources``."""
import os

import pytest

from mmseg_ocr_plus.compat import package_lookup


def test_config_inherits_mmseg_base(tmp_path):
    from mmengine.config import Config

    cfg_file = tmp_path / 'ocrnet.py'
    cfg_file.write_text(
        "_base_ = ['mmseg::_base_/models/ocrnet_hr18.py']\n"
        'crop_size = (64, 64)\n'
    )
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.model.type == 'CascadeEncoderDecoder'
    assert [head.type for head in cfg.model.decode_head] == [
        'FCNHead',
        'OCRHead',
    ]
    assert cfg.crop_size == (64, 64)


def test_package_helpers_replaced_in_mmengine(monkeypatch, fake_find_spec):
    import mmengine.utils
    from mmengine.config import config as mmengine_config
    from mmengine.utils import package_utils

    modules = (mmengine.utils, package_utils, mmengine_config)
    names = ('is_installed', 'get_installed_path')
    for module in modules:  # restored after the test
        for name in names:
            if name in vars(module):
                monkeypatch.setattr(module, name, getattr(module, name))
    fake_find_spec('pkg_resources', False)
    assert package_lookup.install()
    for module in modules:
        assert module.is_installed is package_lookup.is_installed
        assert module.get_installed_path is package_lookup.get_installed_path

    import mmseg

    mmseg_dir = os.path.dirname(mmseg.__file__)
    assert package_lookup.is_installed('mmsegmentation')
    assert package_lookup.is_installed('mmseg')  # a module name, found by spec
    assert not package_lookup.is_installed('surely_not_an_installed_package')
    assert package_lookup.get_installed_path('mmsegmentation') == mmseg_dir
    assert package_lookup.get_installed_path('mmseg') == mmseg_dir
    assert package_lookup.package2module('mmsegmentation') == 'mmseg'
    with pytest.raises(ModuleNotFoundError):
        package_lookup.get_installed_path('surely_not_an_installed_package')


def test_package_helpers_left_alone_with_pkg_resources(fake_find_spec):
    fake_find_spec('pkg_resources', True)
    assert not package_lookup.install()
