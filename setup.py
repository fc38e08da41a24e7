"""Install mmseg-ocr-plus; requirements come from requirements/*.txt."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def parse_requirements(name: str) -> list:
    """Read one ``requirements/<name>.txt``: one specifier a line."""
    lines = (HERE / 'requirements' / f'{name}.txt').read_text().splitlines()
    return [
        ln.strip() for ln in lines
        if ln.strip() and not ln.startswith('#')
    ]


def get_version() -> str:
    scope: dict = {}
    exec((HERE / 'mmseg_ocr_plus' / 'version.py').read_text(), scope)
    return scope['__version__']


setup(
    name='mmseg-ocr-plus',
    version=get_version(),
    description='OCRNet (Object-Contextual Representations) heads for '
    'MMSegmentation 1.x',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    install_requires=parse_requirements('runtime') +
    parse_requirements('mminstall'),
    extras_require={
        'deploy': parse_requirements('deploy'),
        'openvino': parse_requirements('openvino'),
        'tests': parse_requirements('tests'),
    },
    license='Apache License 2.0',
)
