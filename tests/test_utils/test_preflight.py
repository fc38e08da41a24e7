"""The checks the tools run before building a ``Runner``, and how the tools
report bad inputs."""
import pytest
from mmengine.config import Config
from torch.utils.data import DataLoader, Dataset

from mmseg_ocr_plus.compat import PretrainedDownloadError
from mmseg_ocr_plus.datasets.class_statistics import ClassStatisticsError
from mmseg_ocr_plus.datasets.transforms import UnreadableImageError
from mmseg_ocr_plus.utils.preflight import (
    InvalidInputError,
    check_checkpoint_path,
    check_config_path,
    check_dataloaders,
    one_line,
    run_tool,
)


def cityscapes(data_root, split='train'):
    """A CityscapesDataset config like MMSeg's ``_base_`` one."""
    return dict(
        type='CityscapesDataset',
        data_root=str(data_root),
        data_prefix=dict(
            img_path=f'leftImg8bit/{split}', seg_map_path=f'gtFine/{split}'),
        pipeline=[])


@pytest.fixture
def data_root(tmp_path):
    root = tmp_path / 'demo_cityscapes'
    for prefix in ('leftImg8bit/train', 'gtFine/train', 'leftImg8bit/val',
                   'gtFine/val'):
        (root / prefix).mkdir(parents=True)
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
    (data_root / 'gtFine/train').rmdir()
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
