"""A clear error when pretrained weights cannot be downloaded.

The configs keep MMSeg's ImageNet initialisation (``model.pretrained =
'open-mmlab://msra/hrnetv2_w18'``, ``'open-mmlab://resnet101_v1c'``, ...).
MMEngine downloads those files when the model's weights are initialised, at
the start of ``Runner.train()``; offline, that ends in a ``URLError`` from
deep inside ``torch.hub``. :func:`explain_download_errors` wraps MMEngine's
``CheckpointLoader.load_checkpoint`` so that a failed download of a remote
checkpoint raises :class:`PretrainedDownloadError` instead, whose one-line
message names the checkpoint, its URL, where a downloaded copy is looked for,
and the two ways on: pass a local file or train from scratch. Local paths and
other errors pass through unchanged.
"""
from __future__ import annotations

import functools
import os.path as osp
from typing import Any

from .preflight import InvalidInputError

__all__ = [
    'PretrainedDownloadError', 'checkpoint_url', 'explain_download_errors'
]

# Schemes that MMEngine's CheckpointLoader fetches over the network.
REMOTE_PREFIXES = ('http://', 'https://', 'open-mmlab://', 'openmmlab://',
                   'torchvision://', 'mmcls://')
_MARK = '_mmseg_ocr_plus_download_errors'


class PretrainedDownloadError(InvalidInputError):
    """A remote checkpoint (pretrained weights) could not be downloaded."""


def checkpoint_url(name: str) -> str | None:
    """The URL that MMEngine downloads for a checkpoint name.

    Args:
        name (str): A checkpoint as configs give it: a URL, or
            ``open-mmlab://<model>`` (also ``openmmlab://``).

    Returns:
        str | None: The URL; None for names that are not resolved here
        (local paths, ``torchvision://``, ``mmcls://``, unknown models).
    """
    if name.startswith(('http://', 'https://')):
        return name
    for prefix in ('open-mmlab://', 'openmmlab://'):
        if name.startswith(prefix):
            from mmengine.runner.checkpoint import (
                get_deprecated_model_names,
                get_external_models,
            )
            model = name[len(prefix):]
            model = get_deprecated_model_names().get(model, model)
            url = get_external_models().get(model)
            if url and url.startswith(('http://', 'https://')):
                return url
    return None


def download_error_message(name: str, error: BaseException) -> str:
    """One line: what failed, where a copy is looked for, what to do."""
    import torch

    url = checkpoint_url(name)
    source = f'{name!r}' + (f' ({url})' if url and url != name else '')
    hint = ''
    if url:
        file_name = osp.basename(url.split('?')[0])
        cached = osp.join(torch.hub.get_dir(), 'checkpoints', file_name)
        hint = (f'Download {url} where the network allows and pass the file '
                f'with --cfg-options model.pretrained=/path/to/{file_name} '
                f'or copy it to {cached}; ')
    else:
        hint = ('Pass a local file with --cfg-options '
                'model.pretrained=/path/to/weights.pth; ')
    return (f'pretrained weights {source} could not be downloaded: '
            f'{error}. {hint}or train from scratch with --cfg-options '
            'model.pretrained=None')


def explain_download_errors() -> bool:
    """Wrap ``CheckpointLoader.load_checkpoint`` (see the module docstring).

    Idempotent. Returns whether the loader is wrapped afterwards.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    load_checkpoint = CheckpointLoader.load_checkpoint.__func__
    if getattr(load_checkpoint, _MARK, False):
        return True

    @functools.wraps(load_checkpoint)
    def wrapped(cls: type, filename: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return load_checkpoint(cls, filename, *args, **kwargs)
        except OSError as err:  # URLError, HTTPError, ConnectionError
            if not (isinstance(filename, str)
                    and filename.startswith(REMOTE_PREFIXES)):
                raise
            raise PretrainedDownloadError(
                download_error_message(filename, err)) from err

    setattr(wrapped, _MARK, True)
    CheckpointLoader.load_checkpoint = classmethod(wrapped)
    return True
