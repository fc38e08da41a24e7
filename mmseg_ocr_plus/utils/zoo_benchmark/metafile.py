"""Model-zoo metafiles: find models by name, their published figures, and
write measured results back.

Two layouts are read. MMSeg's (``mmseg/.mim/configs/*/metafile.yaml``,
``Results`` a mapping): the published figures are the entry's own
``Results`` and ``Metadata``, its ``Weights`` the zoo checkpoint. This
project's (``configs/ocrnet_plus/metafile.yaml``, ``Results`` a list): the
published figures are those of the equivalent zoo model quoted under
``MMSeg Zoo`` (whose ``Weights`` load into our config), if any; the entry's
``Results`` hold only what was measured here, written by
:func:`update_metafile`, which never touches ``MMSeg Zoo``.
"""
import datetime
import fnmatch
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import yaml

__all__ = [
    'PUBLISHED_KEYS', 'ZooModel', 'find_models', 'load_metafile',
    'lookup_model', 'mmseg_metafiles', 'result_entry', 'update_metafile'
]

# The figures a zoo publishes, as MMSeg's README columns name them.
PUBLISHED_KEYS = ('mIoU', 'mIoU(ms+flip)', 'Memory (GB)', 'Inf time (fps)')


@dataclass(frozen=True)
class ZooModel:
    """One metafile entry.

    Args:
        name (str): ``Name``, e.g.
            ``ocrnet_hr18_4xb2-40k_cityscapes-512x1024``.
        config (Path): The config file, resolved.
        metafile (Path): The metafile that lists it.
        source (str): ``'mmseg'`` (MMSeg's layout) or ``'ours'``.
        weights (str, optional): The zoo checkpoint (URL or path).
        published (dict): Published figures (:data:`PUBLISHED_KEYS`, and
            ``per_class_iou`` where the metafile has it).
        backbone (str): First ``Architecture`` entry.
        crop_size (str): e.g. ``'512x1024'``.
        lr_schd (str): Iterations, e.g. ``'40000'``.
        dataset (str): ``Training Data``.
    """
    name: str
    config: Path
    metafile: Path
    source: str
    weights: Optional[str] = None
    published: Dict[str, object] = field(default_factory=dict)
    backbone: str = '-'
    crop_size: str = '-'
    lr_schd: str = '-'
    dataset: str = '-'


def mmseg_metafiles() -> List[Path]:
    """Every metafile shipped with the installed MMSeg, sorted."""
    import mmseg
    return sorted((Path(mmseg.__file__).parent / '.mim' /
                   'configs').glob('*/metafile.yaml'))


def _resolve_config(config: str, metafile: Path) -> Path:
    """A metafile's ``Config`` path, absolute: relative to the first parent
    of the metafile under which the file exists (the repo root for ours,
    ``mmseg/.mim`` for MMSeg's)."""
    path = Path(config)
    if path.is_absolute():
        return path
    for root in metafile.resolve().parents:
        if (root / path).is_file():
            return root / path
    return metafile.resolve().parent / path


def _from_name(name: str, pattern: str) -> str:
    found = re.search(pattern, name)
    return found.group(1) if found else '-'


def _entry(raw: Mapping, metafile: Path) -> ZooModel:
    meta = raw.get('Metadata') or {}
    name = raw['Name']
    if 'MMSeg Zoo' in raw or isinstance(raw.get('Results'), list):
        # Ours (MMSeg's Results are a mapping): figures quoted from the zoo
        zoo = raw.get('MMSeg Zoo') or {}
        source, weights, published = 'ours', zoo.get('Weights'), {
            k: zoo[k]
            for k in (*PUBLISHED_KEYS, 'per_class_iou') if k in zoo
        }
    else:
        results = raw.get('Results') or []
        if isinstance(results, Mapping):
            results = [results]
        metrics = {}
        for result in results:
            metrics.update(result.get('Metrics') or {})
        source, weights = 'mmseg', raw.get('Weights')
        published = {
            k: v
            for k, v in {
                **metrics, 'Memory (GB)': meta.get('Memory (GB)'),
                'Inf time (fps)': meta.get('Inf time (fps)')
            }.items() if k in (*PUBLISHED_KEYS, 'per_class_iou')
            and v is not None
        }
    lr_schd = meta.get('Lr schd')
    if lr_schd is None:
        iters = _from_name(name, r'-(\d+)k_')
        lr_schd = '-' if iters == '-' else int(iters) * 1000
    return ZooModel(
        name=name,
        config=_resolve_config(raw['Config'], metafile),
        metafile=metafile,
        source=source,
        weights=weights,
        published=published,
        backbone=(meta.get('Architecture') or ['-'])[0],
        crop_size=str(
            meta.get('Crop Size') or _from_name(name, r'-(\d+x\d+)$')),
        lr_schd=str(lr_schd),
        dataset=_dataset(meta.get('Training Data'), name))


def _dataset(training_data: Optional[str], name: str) -> str:
    """``Training Data``; MMSeg's OCRNet metafile holds README headings
    there (``'# HRNet backbone'``), so then the dataset in the name."""
    if training_data and not str(training_data).startswith('#'):
        return str(training_data)
    return _from_name(name, r'_([a-z0-9-]+)-\d+x\d+$')


def load_metafile(path: Path) -> List[ZooModel]:
    """The models a metafile lists, in its order.

    Args:
        path (Path): A metafile in MMSeg's or this project's layout.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If it has no ``Models`` list.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'metafile {str(path)!r}: expected a YAML '
                                f'file, found nothing at {path.resolve()}')
    return list(_load_cached(path, path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=None)
def _load_cached(path: Path, mtime_ns: int) -> tuple:
    """Parse a metafile once per version (MMSeg ships ~150 of them)."""
    data = _load_yaml(path.read_text())
    if not isinstance(data.get('Models'), list):
        raise ValueError(f'metafile {str(path)!r}: expected a Models list, '
                         f'found keys {sorted(data)}')
    return tuple(_entry(raw, path) for raw in data['Models'])


def find_models(pattern: str, metafiles: Iterable[Path]) -> List[ZooModel]:
    """The models whose ``Name`` matches a shell glob, metafile by metafile.

    Args:
        pattern (str): e.g. ``'ocrnet_hr18*cityscapes*'``.
        metafiles (Iterable[Path]): Where to look.

    Raises:
        ValueError: If no model matches.
    """
    metafiles = list(metafiles)
    found = [
        model for path in metafiles for model in load_metafile(path)
        if fnmatch.fnmatchcase(model.name, pattern)
    ]
    if not found:
        raise ValueError(
            f'--models {pattern!r}: expected a glob matching model names in '
            f'{len(metafiles)} metafile(s) (e.g. '
            "'ocrnet_hr18*cityscapes*'), found no match")
    return found


def lookup_model(config: Path,
                 metafiles: Sequence[Path]) -> Optional[ZooModel]:
    """The metafile entry of a config file: the same file, else the first
    entry named as the config's stem.

    Args:
        config (Path): A config file.
        metafiles (Sequence[Path]): Where to look, in order of preference.

    Returns:
        ZooModel, optional: None if no metafile lists it.
    """
    config = Path(config).resolve()
    models = [m for path in metafiles for m in load_metafile(path)]
    for model in models:
        if model.config.resolve() == config:
            return model
    return next((m for m in models if m.name == config.stem), None)


def _same_result(a: Mapping, b: Mapping) -> bool:
    keys = ('Dataset', )
    prov_keys = ('Split', 'Device')
    return all(a.get(k) == b.get(k) for k in keys) and all(
        (a.get('Provenance') or {}).get(k) == (b.get('Provenance') or {}).get(
            k) for k in prov_keys)


def update_metafile(path: Path, results: Mapping[str, Mapping]) -> List[str]:
    """Write measured results into a metafile's ``Results`` lists.

    A result replaces an earlier one of the same ``Dataset``, split and
    device, else it is appended. Nothing else changes: not ``MMSeg Zoo``
    (the published figures), not the leading comment block.

    Args:
        path (Path): The metafile (this project's layout).
        results (Mapping[str, Mapping]): Model name to one result entry
            (``Task``, ``Dataset``, ``Metrics``, ``Provenance``).

    Returns:
        list[str]: The names of the models updated.

    Raises:
        ValueError: If a model is not in the metafile, or its ``Results``
            are published figures (MMSeg's layout).
    """
    path = Path(path)
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    body = next((i for i, ln in enumerate(lines) if not ln.startswith('#')),
                len(lines))
    data = _load_yaml(text)
    by_name = {raw['Name']: raw for raw in data['Models']}
    for name, result in results.items():
        raw = by_name.get(name)
        if raw is None:
            raise ValueError(f'{name}: expected a model listed in {path}, '
                             'found none')
        if not isinstance(raw.get('Results') or [], list):
            raise ValueError(
                f'{name} in {path}: expected our layout (published figures '
                'under MMSeg Zoo, Results a list of measured ones), found '
                'published Results; they are never overwritten')
        kept = [r for r in raw.get('Results') or []
                if not _same_result(r, result)]
        raw['Results'] = kept + [dict(result)]
    path.write_text(''.join(lines[:body]) + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, width=1000))
    return list(results)


def result_entry(record: Mapping, env: Mapping, json_path: Path,
                 command: str) -> dict:
    """A metafile ``Results`` entry for one benchmark record: the
    measured figures (under the published names) and their provenance.

    Args:
        record (Mapping): A model's record from the benchmark.
        env (Mapping): ``report.environment()``.
        json_path (Path): The JSON report that holds every figure.
        command (str): The command line that measured them.
    """
    from .report import measured_figures
    metrics = {'mIoU': record['mIoU'], 'aAcc': record['aAcc']}
    for key, value in measured_figures(record).items():
        if key != 'mIoU' and value is not None:
            metrics[key] = value
    return dict(
        Task='Semantic Segmentation',
        Dataset=record['dataset'],
        Metrics=metrics,
        Provenance=dict(
            Date=datetime.datetime.now(
                datetime.timezone.utc).strftime('%Y-%m-%d'),
            Device=f"{env['device']} ({env['device_name']}, "
            f"{env['threads']} threads)",
            Split=record['split'],
            Images=record['num_images'],
            Checkpoint=record['checkpoint'],
            sha256=record['sha256'],
            JSON=str(json_path),
            Command=command))


def _load_yaml(text: str) -> dict:
    """``yaml.safe_load`` with the C loader where PyYAML has it."""
    return yaml.load(text, Loader=getattr(yaml, 'CSafeLoader',
                                          yaml.SafeLoader)) or {}
