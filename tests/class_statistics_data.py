"""Label maps of three 4x4 images with hand-counted class statistics, for
the class-statistics tests (counting function and hook)."""
from pathlib import Path
from typing import List

import numpy as np
from PIL import Image

CLASSES = ('a', 'b', 'c', 'd')
PIXELS = [20, 18, 6, 0]
IMAGES = [2, 2, 2, 0]
IMAGE_PIXELS = [28, 32, 28, 0]
# median_frequency: f = 20/28, 18/32, 6/28; median 18/32.
MEDIAN_WEIGHTS = [(18 / 32) / (20 / 28), 1.0, (18 / 32) / (6 / 28), 0.0]


def label_maps() -> List[np.ndarray]:
    """The three label maps, counts in the comments."""
    first = np.zeros((4, 4), np.uint8)
    first[0] = 1  # 12 a, 4 b
    second = np.zeros((4, 4), np.uint8)
    second[1] = 2
    second[2] = 255  # 8 a, 4 c, 4 ignored
    third = np.ones((4, 4), np.uint8)
    third[3, :2] = 2  # 14 b, 2 c
    return [first, second, third]


def write_dataset(root: Path, maps: List[np.ndarray]) -> Path:
    """Write images and label maps in MMSeg's ``img``/``ann`` layout."""
    for sub in ('img', 'ann'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, label in enumerate(maps):
        Image.fromarray(np.zeros(label.shape[:2] + (3, ), np.uint8)).save(
            root / 'img' / f'{i}.png')
        Image.fromarray(label).save(root / 'ann' / f'{i}.png')
    return root
