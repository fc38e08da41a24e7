"""``ClassStatisticsHook`` in real ``tools/train.py`` runs on the demo data:
one process, two gloo DDP processes, and a resume of the first run.

``ClassWeightDumpHook`` (``class_weight_dump_hook.py``) writes the class
weights that each rank's losses hold after training.
"""
import json
import re
import socket

import pytest
import torch

from mmseg_ocr_plus.datasets.class_statistics import (
    compute_class_weights,
    rarest_classes,
)

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
LOSSES = ('decode_head.0.loss_decode.0', 'decode_head.1.loss_decode.0')


def write_config(path, demo_config):
    """The demo config with the statistics hook and the dump hook."""
    hooks = [
        dict(
            type='ClassStatisticsHook',
            scheme='median_frequency',
            num_rare_classes=3),
        dict(type='ClassWeightDumpHook'),
    ]
    path.write_text(
        f'_base_ = [{str(demo_config)!r}]\n'
        "custom_imports = dict(imports=['mmseg_ocr_plus', "
        "'class_weight_dump_hook'], allow_failed_imports=False)\n"
        f'custom_hooks = {hooks!r}\n')
    return path


@pytest.fixture(scope='module')
def runs(tmp_path_factory, start_tool, finish_tool, demo_config, tiny_options,
         demo_data_root):
    """A 4-iteration run, a 2-iteration run on 2 DDP processes (together),
    and, once the first is done, its resume to 6 iterations.

    Returns:
        dict: Per run, its work dir (``<name>_dir``) and its
        ``CompletedProcess`` (``<name>``); ``single_dump``: what the dump
        hook wrote in the first run, before the resume overwrote it.
    """
    root = tmp_path_factory.mktemp('class_statistics')
    config = write_config(root / 'class_statistics.py', demo_config)
    checkpoint_every_2 = {'default_hooks.checkpoint.interval': 2}
    runs = dict(single_dir=root / 'single', ddp_dir=root / 'ddp')
    single = start_tool(
        'train', config, '--work-dir', runs['single_dir'], '--cfg-options',
        *tiny_options(
            demo_data_root, **{
                'train_cfg.max_iters': 4,
                **checkpoint_every_2
            }))
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    ddp = start_tool(
        'dist_train.sh',
        config,
        2,  # processes
        '--work-dir',
        runs['ddp_dir'],
        '--cfg-options',
        *tiny_options(
            demo_data_root, **{
                'train_cfg.max_iters': 2,
                **checkpoint_every_2
            }),
        env=dict(PORT=str(port)))
    runs['single'] = finish_tool(single)
    dump = runs['single_dir'] / 'class_weights_rank0.json'
    runs['single_dump'] = json.loads(dump.read_text()) if dump.exists() else {}
    resumed = start_tool(
        'train', config, '--work-dir', runs['single_dir'], '--resume',
        '--cfg-options',
        *tiny_options(
            demo_data_root, **{
                'train_cfg.max_iters': 6,
                **checkpoint_every_2
            }))
    runs['ddp'] = finish_tool(ddp)
    runs['resumed'] = finish_tool(resumed)
    return runs


def cached_statistics(work_dir):
    """The one cache file in ``work_dir``, loaded."""
    [cache] = work_dir.glob('class_statistics_*.json')
    return json.loads(cache.read_text())


def checkpoint_meta(path):
    return torch.load(path, map_location='cpu', weights_only=False)['meta']


def test_single_run_counts_logs_and_weights(runs):
    result = runs['single']
    assert result.returncode == 0, result.stderr
    work_dir = runs['single_dir']
    stats = cached_statistics(work_dir)
    assert stats['num_images'] == 8 and len(stats['pixel_counts']) == 19
    assert (work_dir / 'class_statistics.png').read_bytes()[:8] == PNG_MAGIC

    log = result.stdout
    assert 'counting the label pixels of the training set on 1 rank(s)' \
        in log
    assert "Class statistics of the training set: 8 images, " in log
    assert re.search(
        r'\| +id \| class +\| +pixels \| +frequency \| +images \| +weight +\|',
        log)
    expected = compute_class_weights(stats, 'median_frequency')
    assert len(set(expected)) > 2  # weights that differ between classes
    rounded = str([round(w, 4) for w in expected])
    assert (f'class weights (median_frequency) {rounded} set on '
            'decode_head.0.loss_decode, decode_head.1.loss_decode') in log
    # The rarest classes, as the config value for ClassAwareRandomCrop.
    assert (f'for ClassAwareRandomCrop in the train pipeline: '
            f'rare_classes={rarest_classes(stats, 3)}') in log
    # The losses held these weights through training (with ignored pixels
    # in the labels, which needs the ignore-safe criterion).
    dumped = runs['single_dump']
    assert set(dumped) == set(LOSSES)
    for loss in LOSSES:
        assert dumped[loss]['class_weight'] == pytest.approx(expected)
        assert dumped[loss]['criterion'] == 'ignore_safe_cross_entropy'


def test_checkpoints_hold_the_weights(runs):
    assert runs['single'].returncode == 0, runs['single'].stderr
    stats = cached_statistics(runs['single_dir'])
    meta = checkpoint_meta(runs['single_dir'] / 'iter_4.pth')
    assert meta['class_weight_scheme'] == 'median_frequency'
    assert meta['class_weights'] == runs['single_dump'][LOSSES[0]][
        'class_weight']
    assert meta['class_weights'] == compute_class_weights(
        stats, 'median_frequency')


def test_resume_loads_the_cache(runs):
    result = runs['resumed']
    assert result.returncode == 0, result.stderr
    log = result.stdout
    assert 'resumed epoch: 0, iter: 4' in log
    assert 'loaded the class statistics from the cache' in log
    assert 'counting the label pixels' not in log
    assert len(list(runs['single_dir'].glob('class_statistics_*.json'))) == 1
    before = checkpoint_meta(runs['single_dir'] / 'iter_4.pth')
    after = checkpoint_meta(runs['single_dir'] / 'iter_6.pth')
    assert after['iter'] == 6
    assert after['class_weights'] == before['class_weights']
    dumped = json.loads(
        (runs['single_dir'] / 'class_weights_rank0.json').read_text())
    assert dumped == runs['single_dump']


def test_ddp_ranks_hold_the_same_weights(runs):
    result = runs['ddp']
    assert result.returncode == 0, result.stderr
    work_dir = runs['ddp_dir']
    stats = cached_statistics(work_dir)  # one file: rank 0 wrote it
    assert (work_dir / 'class_statistics.png').read_bytes()[:8] == PNG_MAGIC
    # Each rank counted its share of the label maps; rank 0 logged.
    assert result.stdout.count(
        'counting the label pixels of the training set on 2 rank(s)') == 1
    assert result.stdout.count('Class statistics of the training set') == 1
    ranks = [
        json.loads((work_dir / f'class_weights_rank{rank}.json').read_text())
        for rank in (0, 1)
    ]
    assert ranks[0] == ranks[1]
    expected = compute_class_weights(stats, 'median_frequency')
    for loss in LOSSES:
        assert ranks[0][loss]['class_weight'] == pytest.approx(expected)
    meta = checkpoint_meta(work_dir / 'iter_2.pth')
    assert meta['class_weights'] == ranks[0][LOSSES[0]]['class_weight']
    # Same labels as the single-process run: the same statistics.
    assert stats == cached_statistics(runs['single_dir'])
