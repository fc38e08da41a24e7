"""Tests for :mod:`mmseg_ocr_plus.compat.package_lookup`: ``mmseg::``
config bases without ``pkg_resources``."""
import importlib
import importlib.machinery
import importlib.util
import os

import pytest

from mmseg_ocr_plus.compat import package_lookup


def _pretend_importable(monkeypatch, module_name):
    """Make ``importlib.util.find_spec(module_name)`` find a module."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name, package=None):
        if name == module_name:
            return importlib.machinery.ModuleSpec(name, None)
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, 'find_spec', find_spec)


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


def _pretend_missing(monkeypatch, module_name):
    """Make ``importlib.util.find_spec(module_name)`` find nothing."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name, package=None):
        if name == module_name:
            return None
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, 'find_spec', find_spec)


def test_package_helpers_replaced_in_mmengine(monkeypatch):
    import mmengine.utils
    from mmengine.config import config as mmengine_config
    from mmengine.utils import package_utils

    modules = (mmengine.utils, package_utils, mmengine_config)
    names = ('is_installed', 'get_installed_path')
    for module in modules:  # restored after the test
        for name in names:
            if name in vars(module):
                monkeypatch.setattr(module, name, getattr(module, name))
    _pretend_missing(monkeypatch, 'pkg_resources')
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


def test_package_helpers_left_alone_with_pkg_resources(monkeypatch):
    _pretend_importable(monkeypatch, 'pkg_resources')
    assert not package_lookup.install()
