"""``mmseg::`` config bases without ``pkg_resources``.

Fixes: MMEngine resolves ``_base_ = ['mmseg::...']`` with ``is_installed``
and ``get_installed_path``, which import ``pkg_resources``, gone since
setuptools 82 (open-mmlab/mmcv#3325 reports the same removal). Applies while
``pkg_resources`` cannot be imported, with MMEngine <= 0.10.7 (the newest);
delete it when MMEngine drops ``pkg_resources``. Both are replaced in every
loaded ``mmengine`` module by ``importlib.metadata`` versions. Configs are
parsed before their ``custom_imports``: import ``mmseg_ocr_plus`` first.
"""
import importlib.metadata
import importlib.util
import os.path as osp
import sys

import mmengine
from mmengine.utils import digit_version


def package2module(package: str) -> str:
    """Top-level module of an installed distribution, e.g. ``'mmseg'`` for
    ``'mmsegmentation'`` (its ``top_level.txt``)."""
    dist = importlib.metadata.distribution(package)
    names = (dist.read_text('top_level.txt') or '').split()
    if not names:
        raise ValueError(f'can not infer the module name of {package}: '
                         'expected a top_level.txt in its metadata')
    return names[0]


def is_installed(package: str) -> bool:
    """Whether a distribution is installed or a module is importable."""
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        return spec is not None and spec.origin is not None


def get_installed_path(package: str) -> str:
    """Directory of an installed package, by distribution name (e.g.
    ``'mmsegmentation'``) or module name (``'mmseg'``); editable installs
    and modules on ``PYTHONPATH`` included."""
    try:
        module = package2module(package)
    except importlib.metadata.PackageNotFoundError:
        module = package
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise importlib.metadata.PackageNotFoundError(package)
    if spec.origin is None:
        raise RuntimeError(f'{module} is a namespace package, which is '
                           'invalid for `get_installed_path`')
    return osp.dirname(spec.origin)


def install() -> bool:
    """Replace the helpers where the fix applies; returns whether it does."""
    if (importlib.util.find_spec('pkg_resources') is not None
            or digit_version(mmengine.__version__) > digit_version('0.10.7')):
        return False
    from mmengine.utils import package_utils

    for replacement in (get_installed_path, is_installed):
        name = replacement.__name__
        original = vars(package_utils)[name]
        for module_name, module in list(sys.modules.items()):
            if (module_name.split('.')[0] == 'mmengine'
                    and getattr(module, '__dict__', {}).get(name) is original):
                setattr(module, name, replacement)
    return True
