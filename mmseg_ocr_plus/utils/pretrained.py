"""What to say when pretrained weights cannot be downloaded.

The configs keep MMSeg's ImageNet initialisation (``model.pretrained =
'open-mmlab://msra/hrnetv2_w18'``, ...), which MMEngine downloads when the
model's weights are initialised. Offline, that ends in a ``URLError`` from
deep inside ``torch.hub``; :mod:`mmseg_ocr_plus.compat.checkpoint_loader`
turns it into a ``PretrainedDownloadError`` with the message built here.
"""
import os.path as osp
from typing import Optional

__all__ = ['checkpoint_url', 'download_error_message']


def checkpoint_url(name: str) -> Optional[str]:
    """The URL that MMEngine downloads for a checkpoint name.

    Args:
        name (str): A URL, or ``open-mmlab://<model>`` (``openmmlab://``).

    Returns:
        str, optional: The URL; None for names not resolved here (local
        paths, ``torchvision://``, ``mmcls://``, unknown models).
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
