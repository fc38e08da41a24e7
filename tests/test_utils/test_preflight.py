"""The checks the tools run before building a ``Runner``, and how the tools
report bad inputs."""
import shutil

import pytest
from mmengine.config import Config
from torch.utils.data import DataLoader, Dataset

from mmseg_ocr_plus.compat import (
    PretrainedDownloadError,
    UnreadableCheckpointError,
    UnsafeCheckpointError,
)
from mmseg_ocr_plus.datasets.class_statistics import ClassStatisticsError
from mmseg_ocr_plus.datasets.transforms import (
    InvalidLabelMapError,
    UnreadableImageError,
)
from mmseg_ocr_plus.engine.hooks import NonFiniteLossError
from mmseg_ocr_plus.utils.preflight import (
    InvalidInputError,
    check_checkpoint_path,
    check_config_path,
    check_dataloaders,
    one_line,
    resume_checkpoint,
    run_tool,
    set_label_classes,
)
from mmseg_ocr_plus.utils.state_dict_check import CheckpointMismatchError


def cityscapes(data_root, split='train'):
    """A CityscapesDataset config like MMSeg's ``_base_`` one."""
    return dict(
        type='CityscapesDataset',
        data_root=str(data_root),
        data_prefix=dict(
            img_path=f'leftImg8bit/{split}', seg_map_path=f'gtFine/{split}'),
        pipeline=[])


def add_pair(root, split, name, label=True):
    """An (empty) image file and, with ``label``, its label map file."""
    image = root / f'leftImg8bit/{split}/city/{name}_leftImg8bit.png'
    image.parent.mkdir(parents=True, exist_ok=True)
    image.touch()
    if label:
        label_map = (
            root / f'gtFine/{split}/city/{name}_gtFine_labelTrainIds.png')
        label_map.parent.mkdir(parents=True, exist_ok=True)
        label_map.touch()


@pytest.fixture
def data_root(tmp_path):
    root = tmp_path / 'demo_cityscapes'
    for split in ('train', 'val'):
        add_pair(root, split, 'a_000000_000000')
    return root


def test_existing_paths_pass(data_root, tmp_path):
    cfg = Config(
        dict(
            train_dataloader=dict(dataset=cityscapes(data_root)),
            val_dataloader=dict(dataset=cityscapes(data_root, 'val'))))
    check_dataloaders(cfg, ('train_dataloader', 'val_dataloader',
                            'test_dataloader'))  # absent: skipped
    config = tmp_path / 'config.py'
    config.write_text('')
    check_config_path(str(config))
    check_checkpoint_path(str(config))
    check_checkpoint_path('https://download.openmmlab.com/x.pth')


def test_missing_data_root_names_key_and_hints(tmp_path):
    missing = tmp_path / 'demo_cityscapes'
    cfg = Config(dict(val_dataloader=dict(dataset=cityscapes(missing))))
    with pytest.raises(InvalidInputError) as info:
        check_dataloaders(cfg, ('val_dataloader', ))
    message = str(info.value)
    assert message.startswith(f"val_dataloader.dataset.data_root '{missing}'")
    assert 'found nothing' in message
    assert f'python tools/misc/make_demo_dataset.py {missing}' in message
    assert '\n' not in message


def test_missing_prefix_dir(data_root):
    shutil.rmtree(data_root / 'gtFine/train')
    cfg = Config(dict(train_dataloader=dict(dataset=cityscapes(data_root))))
    with pytest.raises(InvalidInputError,
                       match=r"^train_dataloader\.dataset\.data_prefix\."
                       r"seg_map_path 'gtFine/train': expected a directory"):
        check_dataloaders(cfg, ('train_dataloader', ))


def test_wrapped_datasets_are_followed(data_root, tmp_path):
    missing = tmp_path / 'cityscapes'
    concat = dict(
        type='ConcatDataset',
        datasets=[cityscapes(data_root),
                  cityscapes(missing)])
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(type='RepeatDataset', times=2,
                             dataset=concat))))
    with pytest.raises(InvalidInputError) as info:
        check_dataloaders(cfg, ('train_dataloader', ))
    assert str(info.value).startswith(
        'train_dataloader.dataset.dataset.datasets[1].data_root')
    assert 'download or convert the dataset' in str(info.value)


def test_missing_ann_file(data_root):
    dataset = cityscapes(data_root)
    dataset['ann_file'] = 'splits/train.txt'
    cfg = Config(dict(train_dataloader=dict(dataset=dataset)))
    with pytest.raises(InvalidInputError,
                       match=r"ann_file 'splits/train\.txt': expected an "
                       r'annotation file, found nothing'):
        check_dataloaders(cfg, ('train_dataloader', ))


def test_remote_and_backend_paths_are_not_checked():
    remote = cityscapes('s3://bucket/cityscapes')
    with_backend = cityscapes('/no/such/dir')
    with_backend['backend_args'] = dict(backend='petrel')
    cfg = Config(
        dict(
            train_dataloader=dict(dataset=remote),
            val_dataloader=dict(dataset=with_backend)))
    check_dataloaders(cfg, ('train_dataloader', 'val_dataloader'))


def test_split_without_images(data_root):
    shutil.rmtree(data_root / 'leftImg8bit/val')
    (data_root / 'leftImg8bit/val/city').mkdir(parents=True)
    (data_root / 'leftImg8bit/val/city/a.jpg').touch()  # another suffix
    cfg = Config(dict(val_dataloader=dict(dataset=cityscapes(data_root,
                                                             'val'))))
    with pytest.raises(InvalidInputError) as info:
        check_dataloaders(cfg, ('val_dataloader', ))
    assert str(info.value) == (
        f'val_dataloader.dataset: no images in {data_root}/leftImg8bit/val '
        "(searched '**/*_leftImg8bit.png', the dataset's img_suffix); "
        "expected this split's images there, or set img_suffix or "
        'data_prefix with --cfg-options')


def test_images_without_label_maps(data_root):
    add_pair(data_root, 'train', 'b_000000_000000', label=False)
    add_pair(data_root, 'train', 'c_000000_000000', label=False)
    cfg = Config(dict(train_dataloader=dict(dataset=cityscapes(data_root))))
    with pytest.raises(InvalidInputError) as info:
        check_dataloaders(cfg, ('train_dataloader', ))
    assert str(info.value) == (
        f'train_dataloader.dataset: 2 of 3 images in '
        f'{data_root}/leftImg8bit/train have no label map in '
        f'{data_root}/gtFine/train (searched '
        "'<image path without _leftImg8bit.png>_gtFine_labelTrainIds.png', "
        'e.g. city/b_000000_000000_gtFine_labelTrainIds.png); expected one '
        'label map per image')


def test_set_label_classes():
    checked = dict(type='LoadAnnotationsChecked')
    preset = dict(type='LoadAnnotationsChecked', num_classes=3)
    subset = dict(
        type='CityscapesDataset',
        metainfo=dict(classes=('road', 'car')),
        pipeline=[dict(type='LoadAnnotationsChecked')])
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='ConcatDataset',
                    datasets=[
                        dict(type='CityscapesDataset', pipeline=[checked]),
                        dict(type='ADE20KDataset', pipeline=[preset]),
                        subset,
                    ])),
            val_dataloader=dict(
                dataset=dict(
                    type='CityscapesDataset',
                    pipeline=[dict(type='LoadAnnotations')]))))
    set_label_classes(cfg, ('train_dataloader', 'val_dataloader',
                            'test_dataloader'))
    datasets = cfg.train_dataloader.dataset.datasets
    assert datasets[0].pipeline[0].num_classes == 19
    assert datasets[1].pipeline[0].num_classes == 3  # the config's
    assert datasets[2].pipeline[0].num_classes == 2  # metainfo classes
    assert 'num_classes' not in cfg.val_dataloader.dataset.pipeline[0]


def test_resume_checkpoint(tmp_path):
    assert resume_checkpoint(Config(), str(tmp_path)) is None  # afresh
    assert resume_checkpoint(Config(dict(load_from='x.pth')),
                             str(tmp_path)) == 'x.pth'
    checkpoint = tmp_path / 'iter_3.pth'
    checkpoint.touch()
    record = tmp_path / 'last_checkpoint'
    record.write_text(str(checkpoint))
    assert resume_checkpoint(Config(), str(tmp_path)) == str(checkpoint)
    record.write_text(str(tmp_path / 'iter_6.pth'))
    with pytest.raises(InvalidInputError) as info:
        resume_checkpoint(Config(), str(tmp_path))
    assert str(info.value) == (
        f"--resume: {record} names '{tmp_path}/iter_6.pth', which does not "
        'exist; expected the path of the last checkpoint saved there; '
        'resume from another with --resume --cfg-options load_from=PATH')
    record.write_text('')
    with pytest.raises(InvalidInputError, match=f'^--resume: {record} is '
                       'empty; expected'):
        resume_checkpoint(Config(), str(tmp_path))


def test_missing_config_and_checkpoint(tmp_path):
    with pytest.raises(InvalidInputError,
                       match=r"^config '.*nope\.py': expected a config file"):
        check_config_path(str(tmp_path / 'nope.py'))
    with pytest.raises(InvalidInputError, match='found a directory'):
        check_checkpoint_path(str(tmp_path))


class FailingDataset(Dataset):

    def __len__(self):
        return 1

    def __getitem__(self, index):
        raise UnreadableImageError('x.png: not a readable image')


def test_one_line_of_an_error_from_a_dataloader_worker():
    # The worker's exception is re-created from its whole traceback.
    loader = DataLoader(FailingDataset(), num_workers=1)
    with pytest.raises(UnreadableImageError) as info:
        next(iter(loader))
    assert '\n' in str(info.value)
    assert one_line(info.value) == 'x.png: not a readable image'
    assert one_line(ValueError('a: b')) == 'a: b'


@pytest.mark.parametrize('error, status', [
    (InvalidInputError('bad option'), 2),
    (UnreadableImageError('x.png: not a readable image'), 2),
    (ClassStatisticsError('y.png: label 25'), 2),
    (PretrainedDownloadError('no network'), 2),
    (InvalidLabelMapError('y.png: label map holds 25 (3 pixels)'), 2),
    (UnreadableCheckpointError("checkpoint 'x.pth': cannot load it"), 2),
    (UnsafeCheckpointError("checkpoint 'x.pth': refused"), 2),
    (CheckpointMismatchError("checkpoint 'x.pth' does not match"), 2),
    (NonFiniteLossError('iteration 5: non-finite loss'), 2),
])
def test_run_tool_prints_input_errors_in_one_line(error, status, capsys):

    def main():
        raise error

    assert run_tool(main) == status
    assert capsys.readouterr().err.endswith(f'error: {error}\n')
    assert run_tool(lambda: None) == 0


def test_run_tool_leaves_other_errors_alone():

    def main():
        raise ValueError('a bug')

    with pytest.raises(ValueError, match='a bug'):
        run_tool(main)
