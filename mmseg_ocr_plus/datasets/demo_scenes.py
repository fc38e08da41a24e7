"""Procedurally drawn street scenes, written out as a Cityscapes dataset.

Cityscapes is 11 GB and OCRNet needs a GPU to learn it. This module draws
small street-like scenes instead, in the exact Cityscapes layout and with its
19 train ids, so that configs, hooks and tests can train and evaluate a real
model on a laptop CPU in minutes. MMSeg's ``CityscapesDataset`` loads the
result unchanged.

How a scene is drawn: a pinhole camera stands on a straight street and looks
down it (one-point perspective). The street is laid out in metres (X to the
right, Y up, Z ahead): road, kerbs, verges and sidewalks on the ground;
facades, walls, fences and hedges on vertical planes along the sidewalks; and
vehicles, people, poles and trees standing on the ground. Every part is a flat
polygon on the ground or on a vertical plane; it is projected into the image
and the parts are painted far to near.

The parts are painted into an *instance map*, not into the image: an instance
has a train id, a base colour, a shading gradient and a texture strength. The
label map and the image are both rendered from the instance map at the end,
so they always agree, and texture, shading, shadows, lighting, blur and
sensor noise cost a few vectorised numpy operations per image.

Colours come from deliberately overlapping palettes (grey asphalt, concrete
walls, facades, silver cars and poles; green trees and grass; blue-grey sky
and windows that reflect it), so that a model has to use shape, position and
context, as on Cityscapes. Label 255 (ignored) marks parking strips, tram
tracks, street furniture, the bonnet of the ego vehicle and, in some images,
a one-pixel band inside vehicle borders, as Cityscapes leaves such regions
unlabelled.

Only numpy and OpenCV are used; MMSeg is not imported.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    'CLASSES',
    'IGNORE_INDEX',
    'PALETTE',
    'DemoDatasetSummary',
    'draw_scene',
    'generate_demo_dataset',
    'image_rng',
    'is_demo_dataset',
    'iter_samples',
    'sample_names',
]

CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole',
           'traffic light', 'traffic sign', 'vegetation', 'terrain', 'sky',
           'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle',
           'bicycle')
# RGB colour of each train id, as MMSeg's CityscapesDataset.METAINFO.
PALETTE = ((128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156),
           (190, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0),
           (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
           (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
           (0, 80, 100), (0, 0, 230), (119, 11, 32))
IGNORE_INDEX = 255
SPLITS = ('train', 'val')
DEFAULT_CITIES = ('aachen', 'bremen', 'zurich')
IMG_SUFFIX = '_leftImg8bit.png'
SEG_MAP_SUFFIX = '_gtFine_labelTrainIds.png'
# Written last into every generated dataset; marks a directory as one that
# generate_demo_dataset may replace without ``overwrite=True``.
MARKER_FILE = 'demo_scenes.json'
GENERATOR = 'mmseg_ocr_plus.datasets.demo_scenes'  # recorded in MARKER_FILE
MIN_SIDE = 32  # smallest image height or width that still shows a street
FORMAT_VERSION = 1

(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION,
 TERRAIN, SKY, PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE,
 BICYCLE) = range(len(CLASSES))

# Base colours (RGB). Palettes of different classes overlap on purpose.
_CONCRETE = ((150, 150, 148), (175, 170, 160), (125, 125, 128),
             (190, 185, 175), (105, 105, 108))
_PAVING = ((150, 148, 145), (120, 120, 122), (170, 160, 150),
           (155, 115, 105), (185, 175, 160), (135, 130, 125))
_FACADE = ((205, 200, 190), (180, 170, 150), (150, 145, 140),
           (160, 95, 75), (125, 125, 130), (215, 195, 160), (185, 175, 185),
           (165, 170, 150), (100, 100, 105), (195, 150, 120))
_WALL = ((150, 150, 148), (175, 168, 155), (120, 120, 122), (165, 110, 90),
         (200, 195, 185), (95, 95, 98))
_FENCE = ((110, 110, 110), (150, 150, 150), (70, 90, 70), (130, 100, 70),
          (60, 60, 65), (180, 180, 175))
_PAINT = ((225, 225, 225), (170, 170, 175), (120, 120, 125), (45, 45, 50),
          (25, 35, 70), (150, 25, 25), (50, 85, 150), (70, 85, 70),
          (200, 190, 170), (120, 40, 60))
_TRUCK_PAINT = ((220, 220, 215), (170, 170, 170), (60, 80, 140),
                (160, 40, 40), (60, 110, 70), (200, 180, 60))
_BUS_PAINT = ((230, 200, 40), (190, 40, 40), (230, 230, 230), (60, 90, 160),
              (150, 150, 150), (60, 120, 80))
_TRAM_PAINT = ((230, 230, 225), (200, 40, 40), (235, 205, 50),
               (60, 90, 170), (150, 150, 150))
_METAL = ((120, 120, 120), (90, 90, 92), (150, 150, 150), (60, 70, 65),
          (170, 170, 165))
_LEAVES = ((60, 95, 40), (80, 115, 45), (45, 75, 35), (100, 120, 50),
           (70, 100, 60), (110, 105, 45))
_GRASS = ((95, 130, 60), (120, 140, 70), (140, 135, 90), (110, 100, 70),
          (80, 110, 55), (150, 140, 110))
_SKY = ((120, 165, 220), (150, 185, 230), (175, 200, 225), (190, 195, 200),
        (160, 170, 180))
_GLASS = ((45, 50, 60), (70, 80, 95), (110, 130, 150), (150, 170, 190),
          (35, 35, 40))
_SKIN = ((230, 190, 160), (200, 150, 120), (150, 100, 70), (100, 70, 50),
         (240, 210, 190))
_CLOTHES = ((30, 30, 35), (60, 60, 65), (40, 50, 90), (70, 90, 130),
            (150, 30, 35), (220, 220, 215), (190, 170, 140), (60, 90, 60),
            (110, 80, 55), (140, 140, 145), (200, 120, 40))
_SIGN = ((200, 30, 30), (30, 70, 170), (230, 230, 230), (240, 200, 40),
         (30, 120, 60))
_HOUSING = ((35, 35, 38), (60, 60, 62), (200, 170, 40), (80, 90, 80))


# --------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Camera:
    """Pinhole camera at ``(0, height, 0)`` looking along +Z, no roll."""

    focal: float  # pixels per metre at a depth of 1 m
    cx: float  # image column of the vanishing point
    horizon: float  # image row of the vanishing point
    height: float  # metres above the road
    near: float  # depths are clamped to at least this, metres

    def project(self, x: np.ndarray, y, z: np.ndarray) -> np.ndarray:
        """Image ``(u, v)`` of world points, stacked on a new last axis.

        Args:
            x (np.ndarray): X of the points, metres.
            y (float | np.ndarray): Y, of x's shape or a scalar.
            z (np.ndarray): Z, of x's shape.
        """
        z = np.maximum(z, self.near)
        out = np.empty(x.shape + (2, ))
        out[..., 0] = self.cx + self.focal * x / z
        out[..., 1] = self.horizon + self.focal * (self.height - y) / z
        return out

    def row_of_depth(self, z: float) -> float:
        """Image row where the road is ``z`` metres ahead."""
        return self.horizon + self.focal * self.height / z


@dataclass(frozen=True)
class _Plane:
    """A vertical plane through a ground point, drawn on in local metres.

    Local ``a`` runs along ``axis`` (a unit ground vector ``(dX, dZ)``) and
    local ``b`` runs up, so a shape given as ``(a, b)`` points stands on the
    ground at the plane's origin. ``axis=(1, 0)`` faces the camera.
    """

    cam: _Camera
    x: float
    z: float
    axis: tuple = (1.0, 0.0)

    def __call__(self, pts) -> np.ndarray:
        pts = np.asarray(pts, np.float64)
        a, b = pts[..., 0], pts[..., 1]
        return self.cam.project(self.x + a * self.axis[0], b,
                                self.z + a * self.axis[1])


def _rect(a0: float, b0: float, a1: float, b1: float) -> np.ndarray:
    return np.array([[a0, b0], [a1, b0], [a1, b1], [a0, b1]], np.float64)


_UNIT_CIRCLES = {
    n: np.stack([np.cos(t), np.sin(t)], axis=-1)
    for n in (10, 12, 16)
    for t in [np.linspace(0, 2 * np.pi, n, endpoint=False)]
}


def _disc(ca: float, cb: float, r: float, n: int = 16) -> np.ndarray:
    return _UNIT_CIRCLES[n] * r + (ca, cb)


def _limb(p, q, width: float) -> np.ndarray:
    """Quad of ``width`` around the segment from ``p`` to ``q``."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    d = q - p
    n = np.array([-d[1], d[0]]) * (width / 2 / max(np.hypot(*d), 1e-9))
    return np.array([p + n, q + n, q - n, p - n])


def _ground_quad(cam: _Camera, x0: float, x1: float, z0: float,
                 z1: float) -> np.ndarray:
    """Image quad of the ground rectangle ``[x0, x1] x [z0, z1]``."""
    return cam.project(np.array([x0, x1, x1, x0], np.float64), 0.0,
                       np.array([z0, z0, z1, z1], np.float64))


# --------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------
def _pick(rng: np.random.Generator, palette,
          spread: float = 12.0) -> np.ndarray:
    """A palette colour, jittered per channel (the image is clipped later).
    """
    base = np.asarray(palette[rng.integers(len(palette))], np.float64)
    return base + rng.normal(0.0, spread, 3)


def _grey(rng: np.random.Generator, lo: float, hi: float,
          tint: float = 6.0) -> np.ndarray:
    return rng.uniform(lo, hi) + rng.uniform(-tint, tint, 3)


# --------------------------------------------------------------------------
# Canvas: instance map plus what each instance looks like
# --------------------------------------------------------------------------
_SHIFT = 3  # fractional bits of polygon coordinates given to OpenCV
# Instances of these labels are darkened by cast shadows.
_GROUND = (ROAD, SIDEWALK, TERRAIN, IGNORE_INDEX)


class _Canvas:
    """Instance map being painted, and the look of every instance.

    Args:
        height (int): Image height.
        width (int): Image width.
    """

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.ids = np.zeros((height, width), np.int32)
        self.shadow = np.ones((height, width), np.float32)
        # Instance 0 is never painted; kept so that ids index these lists.
        self.labels = [IGNORE_INDEX]
        self.looks = [(0.0, ) * 7]  # B, G, R, dy, dx, blotch, grain
        # Bounding box [u0, v0, u1, v1] of each shaded instance (None when
        # its gradient is zero): the centre its gradient is relative to.
        self.boxes = [None]

    def add(self, label: int, colour, gradient=(0.0, 0.0),
            blotch: float = 5.0, grain: float = 3.0) -> int:
        """Register an instance and return its id.

        Args:
            label (int): Train id, or 255.
            colour: RGB base colour.
            gradient (tuple): Relative brightness change over the image
                height and width, ``(dy, dx)``, around the instance centre.
            blotch (float): Strength of the low-frequency texture.
            grain (float): Strength of the per-pixel texture.
        """
        self.labels.append(int(label))
        self.looks.append((colour[2], colour[1], colour[0], gradient[0],
                           gradient[1], blotch, grain))
        shaded = gradient[0] != 0 or gradient[1] != 0
        self.boxes.append([np.inf, np.inf, -np.inf, -np.inf]
                          if shaded else None)
        return len(self.labels) - 1

    def fill(self, inst: int, polygons, even_odd: bool = False) -> None:
        """Paint image-space polygons with ``inst``.

        Args:
            inst (int): Instance id from :meth:`add`.
            polygons: Sequence of ``[N, 2]`` arrays of ``(u, v)`` points.
            even_odd (bool): Fill all polygons at once by the even-odd
                rule: where two overlap, neither is painted. Cuts holes
                (a tyre is a disc and a smaller disc), and is faster for
                polygons that are known to be disjoint. Default: False.
        """
        polygons = [np.asarray(p, np.float64) for p in polygons]
        if polygons:
            self._fill(inst, np.concatenate(polygons),
                       [len(p) for p in polygons], even_odd)

    def paint(self, plane: _Plane, inst: int, *shapes,
              even_odd: bool = False) -> None:
        """Paint shapes given in the local metres of ``plane``; see
        :meth:`fill`."""
        self._fill(inst, plane(np.concatenate(shapes)),
                   [len(s) for s in shapes], even_odd)

    def _fill(self, inst: int, pts: np.ndarray, sizes: list,
              even_odd: bool) -> None:
        """Paint polygons whose ``sizes`` points follow each other."""
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        if (hi[0] < -1 or hi[1] < -1 or lo[0] > self.width + 1
                or lo[1] > self.height + 1):
            return  # nothing of it in the image
        fixed = np.rint(pts * (1 << _SHIFT)).astype(np.int32)
        ends = np.cumsum(sizes).tolist()
        polys = [fixed[e - n:e] for n, e in zip(sizes, ends)]
        for group in [polys] if even_odd else [[p] for p in polys]:
            cv2.fillPoly(self.ids, group, int(inst), cv2.LINE_8, _SHIFT)
        box = self.boxes[inst]
        if box is not None:
            box[:2] = np.minimum(box[:2], lo)
            box[2:] = np.maximum(box[2:], hi)

    def cast_shadow(self, polygons, factor: float) -> None:
        """Darken the ground inside image-space polygons by ``factor``.

        Only instances of ground labels (``_GROUND``) are darkened, whatever
        is painted over them later; a later shadow replaces an earlier one.
        """
        pts = [np.rint(np.asarray(p) * (1 << _SHIFT)).astype(np.int32)
               for p in polygons]
        cv2.fillPoly(self.shadow, pts, float(factor), cv2.LINE_8, _SHIFT)

    def labels_map(self) -> np.ndarray:
        """The label map (train ids and 255) of what has been painted."""
        return np.take(np.asarray(self.labels, np.uint8), self.ids)

    def _table(self) -> tuple:
        """Per-instance BGR colours, shape ``[N, 3]``, and the rows
        ``a, b, c, blotch, grain, ground`` of shape ``[6, N]``, where a
        pixel at ``(row, col)`` is shaded by ``a * row + b * col + c``."""
        looks = np.asarray(self.looks, np.float64)
        centre = np.array([[(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
                           if box is not None and box[0] <= box[2] else
                           [0.0, 0.0] for box in self.boxes])
        a = looks[:, 3] / self.height
        b = looks[:, 4] / self.width
        c = 1.0 - a * centre[:, 1] - b * centre[:, 0]
        ground = np.isin(self.labels, _GROUND)
        rows = np.stack([a, b, c, looks[:, 5], looks[:, 6], ground])
        return (looks[:, :3].astype(np.float32),
                np.ascontiguousarray(rows, np.float32))

    def render(self, rng: np.random.Generator) -> np.ndarray:
        """Render the image (BGR, uint8) from the instance map.

        Per pixel: ``colour * gain * shading * shadow + texture``, then a
        slight blur and sensor noise. The per-image exposure, white balance
        and contrast are folded into the colour table.
        """
        h, w = self.ids.shape
        contrast = rng.uniform(0.85, 1.15)
        gain = contrast * rng.uniform(0.75, 1.2) * (
            1.0 + rng.uniform(-0.07, 0.07, 3))
        colours, rows = self._table()
        a, b, c, blotch, grain, ground = (np.take(r, self.ids) for r in rows)
        light = (a * np.arange(h, dtype=np.float32)[:, None] +
                 b * np.arange(w, dtype=np.float32) + c)
        light *= 1.0 + ground * (self.shadow - 1.0)
        texture = (blotch * _smooth_noise(rng, h, w) +
                   grain * _uniform_noise(rng, (h, w)))
        texture *= np.float32(gain.mean())
        # Contrast pivots on grey 128; the 0.5 rounds in the cast below.
        texture += np.float32(128.0 * (1.0 - contrast) + 0.5)
        image = np.take(colours * gain.astype(np.float32), self.ids,
                        axis=0)  # [H, W, 3]
        image *= light[..., None]
        image += texture[..., None]
        image = cv2.GaussianBlur(image, (3, 3), rng.uniform(0.5, 0.9))
        image += _uniform_noise(rng, image.shape, rng.uniform(2.0, 6.0))
        return np.clip(image, 0, 255, out=image).astype(np.uint8)


def _uniform_noise(rng: np.random.Generator, shape: tuple,
                   std: float = 1.0) -> np.ndarray:
    """Zero-mean uniform noise of standard deviation ``std``; much cheaper
    than normal noise, which matters at a million pixels an image."""
    raw = np.frombuffer(rng.bytes(int(np.prod(shape))), np.int8)
    return np.multiply(raw.reshape(shape), np.float32(std / 73.9),
                       dtype=np.float32)


def _smooth_noise(rng: np.random.Generator, h: int,
                  w: int) -> np.ndarray:
    """Unit-ish noise with blotches of about 1/16 and 1/64 of the height."""
    out = np.zeros((h, w), np.float32)
    for cell, weight in ((max(h // 16, 2), 0.8), (max(h // 64, 1), 0.6)):
        small = rng.standard_normal((h // cell + 2, w // cell + 2),
                                    dtype=np.float32)
        out += weight * cv2.resize(small, (w, h),
                                   interpolation=cv2.INTER_CUBIC)
    return out


# --------------------------------------------------------------------------
# Street layout
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Side:
    """One side of the street, outward from the kerb."""

    sign: int  # -1: left of the camera, +1: right
    edge: float  # X of the kerb between road and verge or sidewalk
    verge: str  # '', 'grass' or 'parking'
    verge_width: float
    sidewalk_width: float

    def x(self, d: float) -> float:
        """X of a point ``d`` metres outward from the kerb."""
        return self.edge + self.sign * d

    @property
    def inner(self) -> float:
        """X where the sidewalk starts."""
        return self.x(self.verge_width)

    @property
    def outer(self) -> float:
        """X where the sidewalk ends and the roadside begins."""
        return self.x(self.verge_width + self.sidewalk_width)


@dataclass(frozen=True)
class _Street:
    left: float  # X of the left road edge
    lane_width: float
    lanes: int
    oncoming: int  # lanes, from the left, whose traffic comes towards us
    far: float  # depth of the row of buildings closing the view
    sides: tuple
    tram_x: float | None  # X of the tram track, if any

    def lane_x(self, i: int) -> float:
        return self.left + (i + 0.5) * self.lane_width

    @property
    def right(self) -> float:
        return self.left + self.lanes * self.lane_width


def _random_camera(rng: np.random.Generator, h: int, w: int) -> _Camera:
    focal = w * rng.uniform(0.7, 0.95)
    horizon = h * rng.uniform(0.36, 0.47)
    height = rng.uniform(1.3, 1.7)
    near = focal * height / (2.0 * h - horizon)  # ground at row 2h
    return _Camera(focal, w * rng.uniform(0.42, 0.58), horizon, height, near)


def _random_street(rng: np.random.Generator) -> _Street:
    lane_width = rng.uniform(3.0, 3.6)
    lanes = int(rng.integers(2, 5))
    cam_lane = int(rng.integers(lanes // 2, lanes))  # right half, as driving
    left = -(cam_lane + rng.uniform(0.35, 0.65)) * lane_width
    right = left + lanes * lane_width
    sides = tuple(_random_side(rng, sign, edge)
                  for sign, edge in ((-1, left), (1, right)))
    oncoming = lanes // 2 if rng.random() < 0.7 else 0
    tram_x = None
    if rng.random() < 0.3:
        tram_x = left + (rng.integers(0, max(oncoming, 1)) + 0.5) * lane_width
    return _Street(left, lane_width, lanes, oncoming, rng.uniform(70, 160),
                   sides, tram_x)


def _random_side(rng: np.random.Generator, sign: int, edge: float) -> _Side:
    verge = rng.choice(['', 'grass', 'parking'], p=[0.35, 0.25, 0.4])
    width = {'': 0.0, 'grass': rng.uniform(1.0, 3.0),
             'parking': rng.uniform(2.2, 2.6)}[verge]
    return _Side(sign, edge, str(verge), width, rng.uniform(1.8, 4.5))


# --------------------------------------------------------------------------
# Background: sky, far band, skyline, ground
# --------------------------------------------------------------------------
def _draw_sky(canvas: _Canvas, rng: np.random.Generator) -> None:
    h, w = canvas.height, canvas.width
    sky = canvas.add(SKY, _pick(rng, _SKY, 10), (rng.uniform(0.2, 0.6), 0),
                     blotch=rng.uniform(2, 8), grain=1.5)
    canvas.fill(sky, [_rect(-1, -1, w + 1, h + 1)])
    if rng.random() < 0.5:
        cloud = canvas.add(SKY, _grey(rng, 200, 245), (0.3, 0),
                           blotch=6, grain=1.5)
        for _ in range(rng.integers(1, 5)):
            cu, cv = rng.uniform(0, w), rng.uniform(0, 0.3 * h)
            r = rng.uniform(0.03, 0.08) * w
            canvas.fill(cloud, [_disc(cu + k * r, cv + rng.normal(0, r / 4),
                                      r * rng.uniform(0.6, 1.0))
                                for k in range(-2, 3)])


def _draw_far_band(canvas: _Canvas, rng: np.random.Generator,
                   cam: _Camera, street: _Street) -> None:
    """The ground beyond the end of the street, and a distant tree line."""
    w = canvas.width
    if rng.random() < 0.5:
        trees = canvas.add(VEGETATION, _pick(rng, _LEAVES, 10), blotch=10,
                           grain=8)
        us = np.linspace(-2, w + 2, 24)
        tops = cam.horizon - cam.focal * rng.uniform(8, 20, us.size) / (
            3 * street.far)
        canvas.fill(trees, [np.concatenate(
            [np.stack([us, tops], -1), [[w + 2, cam.horizon + 1],
                                        [-2, cam.horizon + 1]]])])
    band = canvas.add(rng.choice([TERRAIN, VEGETATION]),
                      _pick(rng, _GRASS, 10), blotch=6, grain=4)
    bottom = cam.row_of_depth(street.far) + 1
    canvas.fill(band, [_rect(-1, cam.horizon - 0.5, w + 1, bottom)])
    road = canvas.add(ROAD, _grey(rng, 60, 130), blotch=4, grain=4)
    canvas.fill(road, [_ground_quad(cam, street.left, street.right,
                                    street.far - 1, 1e4)])


def _draw_skyline(canvas: _Canvas, rng: np.random.Generator, cam: _Camera,
                  street: _Street) -> None:
    """Buildings across the far end of the street."""
    z = street.far
    x_min = (0 - cam.cx) * z / cam.focal - 5
    x_max = (canvas.width - cam.cx) * z / cam.focal + 5
    open_end = rng.random() < 0.4
    x = x_min
    while x < x_max:
        width = rng.uniform(8, 30)
        if open_end and x + width > street.left and x < street.right:
            width = street.right - x + rng.uniform(0, 3)
        elif rng.random() < 0.85:
            plane = _Plane(cam, x, z)
            _draw_facade(canvas, rng, plane, width, rng.uniform(6, 35))
        x += width


def _draw_ground(canvas: _Canvas, rng: np.random.Generator, cam: _Camera,
                 street: _Street) -> None:
    """Road, kerbs, verges, sidewalks, the roadside ground and markings."""
    z0, z1 = cam.near, street.far
    road = canvas.add(ROAD, _grey(rng, 60, 135),
                      (rng.uniform(-0.3, 0.2), rng.uniform(-0.1, 0.1)),
                      blotch=rng.uniform(4, 10), grain=rng.uniform(4, 9))
    canvas.fill(road, [_ground_quad(cam, street.left, street.right, z0, z1)])
    for side in street.sides:
        _draw_side_ground(canvas, rng, cam, side, z0, z1)
    _draw_markings(canvas, rng, cam, street)
    if street.tram_x is not None:
        _draw_tracks(canvas, rng, cam, street.tram_x, z0, z1)


def _draw_side_ground(canvas: _Canvas, rng: np.random.Generator,
                      cam: _Camera, side: _Side, z0: float,
                      z1: float) -> None:
    outer_ground = canvas.add(TERRAIN, _pick(rng, _GRASS, 14),
                              blotch=rng.uniform(6, 14), grain=7)
    _fill_band(canvas, cam, outer_ground, side.outer, side.x(400), z0, z1)
    sidewalk = canvas.add(SIDEWALK, _pick(rng, _PAVING, 12),
                          (rng.uniform(-0.2, 0.2), 0), blotch=5,
                          grain=rng.uniform(4, 9))
    _fill_band(canvas, cam, sidewalk, side.inner, side.outer, z0, z1)
    if side.verge:
        label, colour = ((TERRAIN, _pick(rng, _GRASS, 14))
                         if side.verge == 'grass' else
                         (IGNORE_INDEX, _grey(rng, 60, 140)))
        verge = canvas.add(label, colour, blotch=8, grain=6)
        _fill_band(canvas, cam, verge, side.edge, side.inner, z0, z1)
    kerb = canvas.add(SIDEWALK, _pick(rng, _CONCRETE, 10), blotch=3, grain=4)
    canvas.paint(_Plane(cam, side.edge, z0, (0.0, 1.0)), kerb,
                 _rect(0, 0, z1 - z0, 0.13))
    if side.verge:
        canvas.paint(_Plane(cam, side.inner, z0, (0.0, 1.0)), kerb,
                     _rect(0, 0, z1 - z0, 0.1))


def _fill_band(canvas: _Canvas, cam: _Camera, inst: int, xa: float,
               xb: float, z0: float, z1: float) -> None:
    canvas.fill(inst, [_ground_quad(cam, min(xa, xb), max(xa, xb), z0, z1)])


def _draw_markings(canvas: _Canvas, rng: np.random.Generator, cam: _Camera,
                   street: _Street) -> None:
    paint = canvas.add(ROAD, _grey(rng, 170, 235), blotch=6, grain=6)
    dash, gap = rng.uniform(2, 4), rng.uniform(3, 8)
    quads = []
    for i in range(1, street.lanes):
        x = street.left + i * street.lane_width
        solid = i == street.oncoming and rng.random() < 0.5
        z = cam.near + rng.uniform(0, dash + gap)
        while z < street.far:
            z_end = street.far if solid else z + dash
            quads.append(_ground_quad(cam, x - 0.07, x + 0.07, z, z_end))
            z = z_end + gap
    for x in (street.left + 0.3, street.right - 0.3):
        if rng.random() < 0.5:
            quads.append(_ground_quad(cam, x - 0.06, x + 0.06, cam.near,
                                      street.far))
    if rng.random() < 0.3:  # zebra crossing
        z = rng.uniform(8, 25)
        for x in np.arange(street.left + 0.3, street.right - 0.4, 1.0):
            quads.append(_ground_quad(cam, x, x + 0.5, z, z + 3))
    if quads:
        canvas.fill(paint, quads)
    patch = canvas.add(ROAD, _grey(rng, 50, 120), blotch=6, grain=5)
    for _ in range(rng.integers(0, 4)):
        x, z = rng.uniform(street.left, street.right), rng.uniform(5, 40)
        canvas.fill(patch, [_ground_quad(cam, x, x + rng.uniform(0.5, 3), z,
                                         z + rng.uniform(1, 6))])


def _draw_tracks(canvas: _Canvas, rng: np.random.Generator, cam: _Camera,
                 x: float, z0: float, z1: float) -> None:
    """A tram track; rail track is ignored in Cityscapes' train ids."""
    bed = canvas.add(IGNORE_INDEX, _pick(rng, _CONCRETE, 12), blotch=6,
                     grain=6)
    canvas.fill(bed, [_ground_quad(cam, x - 1.0, x + 1.0, z0, z1)])
    rail = canvas.add(IGNORE_INDEX, _grey(rng, 150, 210), grain=4)
    canvas.fill(rail, [_ground_quad(cam, x + dx - 0.04, x + dx + 0.04, z0,
                                    z1) for dx in (-0.72, 0.72)])


# --------------------------------------------------------------------------
# Roadside: facades, walls, fences, hedges, trees behind the sidewalk
# --------------------------------------------------------------------------
# A scene is painted as a list of items ``(layer, depth, draw)``, where
# ``draw(canvas)`` paints one thing: layer by layer, far to near within one.
_BEHIND, _ROADSIDE, _STREET = range(3)


def _draw_facade(canvas: _Canvas, rng: np.random.Generator, plane: _Plane,
                 length: float, height: float) -> None:
    """A building facade with windows, on a vertical plane."""
    colour = _pick(rng, _FACADE, 14)
    wall = canvas.add(BUILDING, colour, (rng.uniform(-0.4, 0.4),
                                         rng.uniform(-0.3, 0.3)),
                      blotch=rng.uniform(3, 10), grain=rng.uniform(2, 8))
    canvas.paint(plane, wall, _rect(0, 0, length, height))
    trim = canvas.add(BUILDING, colour * rng.uniform(0.6, 1.2), grain=3)
    canvas.paint(plane, trim, _rect(0, height - 0.5, length, height))
    ground_floor = rng.uniform(3.0, 4.5)
    _draw_windows(canvas, rng, plane, length, ground_floor, height - 0.6)
    glass = canvas.add(BUILDING, _pick(rng, _GLASS, 12), grain=3)
    bays = np.arange(0.5, length - 2.7, rng.uniform(3.0, 6.0))
    if rng.random() < 0.6 and bays.size:  # shop windows
        canvas.paint(plane, glass, *[_rect(a, 0.3, a + 2.2, ground_floor -
                                           0.5) for a in bays])
    else:  # a door
        a = rng.uniform(0.2, max(length - 1.6, 0.3))
        canvas.paint(plane, glass, _rect(a, 0, a + 1.4, 2.4))


def _draw_windows(canvas: _Canvas, rng: np.random.Generator, plane: _Plane,
                  length: float, b0: float, b1: float) -> None:
    """A grid of windows in three shades; skipped where under 2 pixels."""
    floor, step = rng.uniform(2.8, 3.6), rng.uniform(2.0, 3.5)
    win_w, win_h = step * rng.uniform(0.35, 0.6), floor * rng.uniform(0.4,
                                                                      0.6)
    cols = np.arange(step / 2, length - win_w, step)
    rows = np.arange(b0 + 0.5, b1 - win_h, floor)
    if cols.size == 0 or rows.size == 0:
        return
    a, b = (g.ravel() for g in np.meshgrid(cols, rows))
    z = plane.z + a * plane.axis[1]
    keep = plane.cam.focal * win_h / np.maximum(z, plane.cam.near) >= 2.0
    a, b = a[keep], b[keep]
    corners = np.stack([np.stack([a, b], -1), np.stack([a + win_w, b], -1),
                        np.stack([a + win_w, b + win_h], -1),
                        np.stack([a, b + win_h], -1)], axis=1)
    polys = plane(corners)  # [K, 4, 2]
    shade = rng.integers(0, 3, len(polys))
    sky_like = _pick(rng, _SKY, 20)
    for k, colour in enumerate((_pick(rng, _GLASS, 10), sky_like,
                                _grey(rng, 150, 230, 20))):
        if (shade == k).any():
            canvas.fill(canvas.add(BUILDING, colour, (0.3, 0), grain=3),
                        polys[shade == k], even_odd=True)  # disjoint


def _roadside_items(rng: np.random.Generator, cam: _Camera, side: _Side,
                    end: float) -> list:
    """Segments of roadside along one side of the street, up to ``end``.

    Things set back from the sidewalk (facades behind front gardens, park
    trees) go in the ``_BEHIND`` layer, painted before the ``_ROADSIDE``
    layer of facades, walls, fences and hedges on the sidewalk's edge, so a
    facade hides a park tree that stands behind it further along.
    """
    items = []
    z = cam.near
    while z < end:
        kind = rng.choice(['building', 'park', 'lot'], p=[0.6, 0.22, 0.18])
        length = rng.uniform(8, 30) if kind == 'building' else rng.uniform(
            10, 35)
        seg = (z, min(z + length, end))
        if kind == 'building':
            setback = 0.0 if rng.random() < 0.75 else rng.uniform(2, 6)
            items.append(_building_item(rng, cam, side, seg, setback))
            if setback:
                items += _boundary_items(rng, cam, side, seg, 0.7)
        elif kind == 'park':
            items += _park_trees(rng, cam, side, seg)
            items += _boundary_items(rng, cam, side, seg, 0.6)
        else:  # a walled or fenced lot, a building at its back
            items.append(_building_item(rng, cam, side, seg,
                                        rng.uniform(8, 20)))
            items += _boundary_items(rng, cam, side, seg, 1.0)
        z = seg[1]
    return items


def _building_item(rng: np.random.Generator, cam: _Camera, side: _Side,
                   seg: tuple, setback: float) -> tuple:
    height = rng.uniform(3.0, 3.6) * rng.integers(2, 9) + rng.uniform(0, 2)
    x = side.x(side.verge_width + side.sidewalk_width + setback)
    return (_BEHIND if setback else _ROADSIDE, seg[0],
            partial(_draw_building, rng=rng, cam=cam, x=x, sign=side.sign,
                    seg=seg, height=height))


def _draw_building(canvas: _Canvas, rng: np.random.Generator, cam: _Camera,
                   x: float, sign: int, seg: tuple, height: float) -> None:
    """A facade along the street and the end wall that faces the camera."""
    if seg[0] > cam.near + 1:  # the end wall is not behind the camera
        _draw_facade(canvas, rng, _Plane(cam, x, seg[0], (float(sign), 0.0)),
                     40.0, height)
    _draw_facade(canvas, rng, _Plane(cam, x, seg[0], (0.0, 1.0)),
                 seg[1] - seg[0], height)


def _park_trees(rng: np.random.Generator, cam: _Camera, side: _Side,
                seg: tuple) -> list:
    items = []
    for _ in range(int((seg[1] - seg[0]) / rng.uniform(4, 9)) + 1):
        z = rng.uniform(*seg)
        x = side.x(side.verge_width + side.sidewalk_width +
                   rng.uniform(1.5, 25))
        items.append((_BEHIND, z, partial(_draw_tree, rng=rng,
                                          plane=_Plane(cam, x, z))))
    return items


def _boundary_items(rng: np.random.Generator, cam: _Camera, side: _Side,
                    seg: tuple, p: float) -> list:
    """With probability ``p``, a wall, fence or hedge along the sidewalk."""
    if rng.random() >= p:
        return []
    kind = rng.choice([_draw_wall, _draw_fence, _draw_hedge],
                      p=[0.4, 0.4, 0.2])
    plane = _Plane(cam, side.outer, seg[0], (0.0, 1.0))
    return [(_ROADSIDE, seg[0], partial(kind, rng=rng, plane=plane,
                                        length=seg[1] - seg[0]))]


def _draw_wall(canvas: _Canvas, rng: np.random.Generator, plane: _Plane,
               length: float) -> None:
    height = rng.uniform(0.8, 2.5) if rng.random() < 0.8 else rng.uniform(
        2.5, 4.0)
    colour = _pick(rng, _WALL, 14)
    wall = canvas.add(WALL, colour, (rng.uniform(-0.3, 0.3), 0),
                      blotch=rng.uniform(4, 10), grain=rng.uniform(3, 8))
    canvas.paint(plane, wall, _rect(0, 0, length, height))
    cap = canvas.add(WALL, colour * rng.uniform(0.7, 1.2), grain=3)
    canvas.paint(plane, cap, _rect(0, height - 0.15, length, height))
    if rng.random() < 0.35:  # graffiti is part of the wall
        paint = canvas.add(WALL, _pick(rng, _CLOTHES + _SIGN, 20), grain=4)
        for _ in range(rng.integers(1, 4)):
            a = rng.uniform(0, length)
            canvas.paint(plane, paint, _disc(a, height * 0.5, min(
                height * 0.35, 1.0), 10))


def _draw_fence(canvas: _Canvas, rng: np.random.Generator, plane: _Plane,
                length: float) -> None:
    height = rng.uniform(1.0, 2.2)
    colour = _pick(rng, _FENCE, 12)
    panel = canvas.add(FENCE, colour, blotch=4, grain=rng.uniform(5, 12))
    canvas.paint(plane, panel, _rect(0, 0.05, length, height))
    frame = canvas.add(FENCE, colour * rng.uniform(0.5, 0.8), grain=3)
    posts = [_rect(a, 0, a + 0.08, height + 0.05)
             for a in np.arange(0, length, rng.uniform(2, 3))]
    rails = [_rect(0, b, length, b + 0.05) for b in (0.1, height - 0.1)]
    bar = rng.uniform(0.12, 0.3)
    if plane.cam.focal * bar / max(plane.z + length, 1) >= 3:  # visible bars
        posts += [_rect(a, 0.1, a + 0.025, height - 0.1)
                  for a in np.arange(0, length, bar)]
    canvas.paint(plane, frame, *posts, *rails)


def _draw_hedge(canvas: _Canvas, rng: np.random.Generator, plane: _Plane,
                length: float) -> None:
    a = np.linspace(0, length, max(int(length), 2))
    top = rng.uniform(0.8, 1.8) + rng.uniform(-0.12, 0.12, a.size)
    outline = np.concatenate([np.stack([a, top], -1),
                              [[length, 0], [0, 0]]])
    hedge = canvas.add(VEGETATION, _pick(rng, _LEAVES, 12), blotch=10,
                       grain=rng.uniform(8, 16))
    canvas.paint(plane, hedge, outline)


def _draw_tree(canvas: _Canvas, rng: np.random.Generator,
               plane: _Plane) -> None:
    """A tree, trunk included, as Cityscapes labels it: all vegetation."""
    trunk_h, r = rng.uniform(1.8, 4.0), rng.uniform(1.2, 3.0)
    lean = rng.uniform(-0.3, 0.3)
    trunk = canvas.add(VEGETATION, _grey(rng, 60, 120, 10) * (1, 0.9, 0.75),
                       blotch=4, grain=6)
    canvas.paint(plane, trunk, _limb((0, 0), (lean, trunk_h + r), 0.3))
    centre = np.array([lean, trunk_h + r * 0.8])
    leaves = [canvas.add(VEGETATION, _pick(rng, _LEAVES, 14) * k,
                         (rng.uniform(-0.5, 0.2), 0), blotch=12,
                         grain=rng.uniform(10, 20)) for k in (0.8, 1.1)]
    n = rng.integers(5, 10)
    offsets = rng.normal(0, r * 0.45, (n, 2))
    radii = r * rng.uniform(0.45, 0.8, n)
    which = rng.integers(0, 2, n)
    for k, inst in enumerate(leaves):  # the dark clumps first
        discs = [_disc(*(centre + off), rad, 16)
                 for off, rad in zip(offsets[which == k], radii[which == k])]
        if discs:
            canvas.paint(plane, inst, *discs)


# --------------------------------------------------------------------------
# Street objects: poles, signs, lights, people, vehicles
# --------------------------------------------------------------------------
def _draw_pole(canvas: _Canvas, rng: np.random.Generator, plane: _Plane,
               kind: str, toward_road: int) -> None:
    """A pole carrying a street lamp, traffic lights or traffic signs."""
    metal = canvas.add(POLE, _pick(rng, _METAL, 12), (0.2, 0), grain=4)
    height = {'lamp': rng.uniform(6, 9), 'light': rng.uniform(3, 4.5),
              'sign': rng.uniform(2.4, 3.6)}[kind]
    width = rng.uniform(0.1, 0.22)
    canvas.paint(plane, metal, _rect(-width / 2, 0, width / 2, height))
    if kind == 'lamp':
        reach = toward_road * rng.uniform(1.2, 2.5)
        canvas.paint(plane, metal, _limb((0, height - 0.1),
                                         (reach, height + 0.2), 0.1),
                     _rect(reach - 0.3, height, reach + 0.3, height + 0.25))
    elif kind == 'light':
        _draw_traffic_light(canvas, rng, plane, 0.0, height)
        if rng.random() < 0.5:  # a second light on an arm over the road
            reach = toward_road * rng.uniform(2.0, 5.0)
            canvas.paint(plane, metal, _limb((0, height - 0.2),
                                             (reach, height + 0.6), 0.12))
            _draw_traffic_light(canvas, rng, plane, reach, height - 0.4)
    if kind == 'sign' or rng.random() < 0.3:
        _draw_sign(canvas, rng, plane, height - (0.4 if kind == 'sign'
                                                 else 1.4))


def _draw_traffic_light(canvas: _Canvas, rng: np.random.Generator,
                        plane: _Plane, a: float, b: float) -> None:
    housing = canvas.add(LIGHT, _pick(rng, _HOUSING, 10), grain=3)
    canvas.paint(plane, housing, _rect(a - 0.17, b, a + 0.17, b + 0.9))
    if rng.random() < 0.25:  # seen from behind: housing only
        return
    lit = rng.integers(3)
    for k, colour in enumerate(((230, 40, 30), (240, 180, 30),
                                (40, 220, 100))):
        colour = np.asarray(colour) * (1.0 if k == lit else 0.25)
        lamp = canvas.add(LIGHT, colour, grain=2)
        canvas.paint(plane, lamp, _disc(a, b + 0.75 - 0.28 * k, 0.1, 10))


def _draw_sign(canvas: _Canvas, rng: np.random.Generator, plane: _Plane,
               b: float) -> None:
    size = rng.uniform(0.5, 0.8)
    face = canvas.add(SIGN, _pick(rng, _SIGN, 10), grain=3)
    shape = rng.integers(4)
    if shape == 0:
        outline = _disc(0, b, size / 2, 16)
    elif shape == 1:
        outline = np.array([[-size / 2, b + size * 0.4],
                            [size / 2, b + size * 0.4], [0, b - size * 0.45]])
    elif shape == 2:
        outline = _rect(-size / 2, b - size / 2, size / 2, b + size / 2)
    else:
        outline = _rect(-size, b - size / 3, size, b + size / 3)
    canvas.paint(plane, face, outline)
    if rng.random() < 0.7:  # inner field of another colour
        inner = canvas.add(SIGN, _pick(rng, _SIGN, 10), grain=3)
        centre = outline.mean(axis=0)
        canvas.paint(plane, inner, centre + (outline - centre) * 0.65)


def _draw_person(canvas: _Canvas, rng: np.random.Generator,
                 plane: _Plane) -> None:
    """A pedestrian seen from the front, walking or standing."""
    h = rng.uniform(1.5, 1.95)
    stride = rng.uniform(0, 0.12) * h
    swing = rng.uniform(-0.05, 0.05) * h
    joints = {
        'hips': [(-0.05 * h, 0.52 * h), (0.05 * h, 0.52 * h)],
        'knees': [(-0.05 * h - stride / 2, 0.27 * h),
                  (0.05 * h + stride / 2, 0.27 * h)],
        'feet': [(-0.05 * h - stride, 0), (0.05 * h + stride, 0)],
        'shoulders': [(-0.11 * h, 0.8 * h), (0.11 * h, 0.8 * h)],
        'hands': [(-0.15 * h - swing, 0.45 * h), (0.15 * h + swing,
                                                  0.45 * h)],
        'neck': (0, 0.83 * h), 'pelvis': (0, 0.5 * h),
        'head': (0, 0.91 * h, 0.065 * h)}
    _draw_figure(canvas, rng, plane, joints, PERSON, torso=0.24 * h,
                 limb=0.075 * h)


def _draw_figure(canvas: _Canvas, rng: np.random.Generator, plane: _Plane,
                 joints: dict, label: int, torso: float, limb: float,
                 helmet: bool = False) -> None:
    """A person or rider from joint positions given in plane metres."""
    trousers = canvas.add(label, _pick(rng, _CLOTHES, 12), (0.3, 0), grain=5)
    for hip, knee, foot in zip(joints['hips'], joints['knees'],
                               joints['feet']):
        canvas.paint(plane, trousers, _limb(hip, knee, limb),
                     _limb(knee, foot, limb * 0.85))
    shirt = canvas.add(label, _pick(rng, _CLOTHES, 12), (0.3, 0), grain=5)
    canvas.paint(plane, shirt, _limb(joints['pelvis'], joints['neck'],
                                     torso))
    for shoulder, hand in zip(joints['shoulders'], joints['hands']):
        canvas.paint(plane, shirt, _limb(shoulder, hand, limb * 0.7))
    skin = canvas.add(label, _pick(rng, _SKIN, 10), grain=3)
    hx, hy, hr = joints['head']
    top = canvas.add(label, _pick(rng, _HOUSING + _CLOTHES if helmet else
                                  _CLOTHES[:2] + _SKIN[3:4], 12), grain=3)
    canvas.paint(plane, top, _disc(hx, hy + hr * 0.25, hr * 1.08, 12))
    canvas.paint(plane, skin, _disc(hx, hy - hr * 0.1, hr * 0.9, 12))


def _draw_cyclist(canvas: _Canvas, rng: np.random.Generator, plane: _Plane,
                  motor: bool, ridden: bool) -> None:
    """A bicycle or motorcycle in profile, with or without its rider."""
    d = float(rng.choice([-1.0, 1.0]))  # facing left or right
    if motor:
        seat, bar = _draw_motorcycle(canvas, rng, plane, d)
    else:
        seat, bar = _draw_bicycle(canvas, rng, plane, d)
    if not ridden:
        return
    sx, sy = seat
    shoulder = (sx + d * 0.3, sy + 0.58)
    knee = (sx + d * 0.4, sy - 0.2)
    foot = (sx + d * 0.25, 0.25 if not motor else 0.4)
    joints = {'hips': [seat], 'knees': [knee], 'feet': [foot],
              'shoulders': [shoulder], 'hands': [bar], 'neck': shoulder,
              'pelvis': seat,
              'head': (shoulder[0] + d * 0.08, shoulder[1] + 0.2, 0.12)}
    _draw_figure(canvas, rng, plane, joints, RIDER, torso=0.3, limb=0.13,
                 helmet=motor or rng.random() < 0.4)


def _draw_bicycle(canvas: _Canvas, rng: np.random.Generator, plane: _Plane,
                  d: float) -> tuple:
    """Bicycle in profile; returns (saddle, handlebar) in plane metres."""
    frame = canvas.add(BICYCLE, _pick(rng, _CLOTHES + _METAL, 14), grain=4)
    tyre = canvas.add(BICYCLE, _grey(rng, 20, 50), grain=3)
    r = 0.34
    rear, front = (-0.52 * d, r), (0.52 * d, r)
    crank, saddle = (0.0, 0.3), (-0.22 * d, 0.9)
    head, bar = (0.38 * d, 0.85), (0.32 * d, 1.0)
    for hub in (rear, front):  # tyre rings, the inside left see-through
        canvas.paint(plane, tyre, _disc(*hub, r), _disc(*hub, r - 0.05),
                     even_odd=True)
        canvas.paint(plane, frame, _disc(*hub, 0.05, 10))
    tubes = [(rear, crank), (rear, saddle), (saddle, crank),
             (saddle, head), (crank, head), (head, front), (head, bar)]
    canvas.paint(plane, frame, *[_limb(p, q, 0.04) for p, q in tubes],
                 _rect(saddle[0] - 0.1, 0.88, saddle[0] + 0.1, 0.93))
    return saddle, bar


def _draw_motorcycle(canvas: _Canvas, rng: np.random.Generator,
                     plane: _Plane, d: float) -> tuple:
    """Motorcycle in profile; returns (seat, handlebar) in plane metres."""
    paint = canvas.add(MOTORCYCLE, _pick(rng, _PAINT, 14), (0.3, 0),
                       grain=4)
    dark = canvas.add(MOTORCYCLE, _grey(rng, 20, 60), grain=4)
    metal = canvas.add(MOTORCYCLE, _grey(rng, 120, 190), grain=4)
    r = 0.31
    rear, front = (-0.7 * d, r), (0.72 * d, r)
    for hub in (rear, front):
        canvas.paint(plane, dark, _disc(*hub, r))
        canvas.paint(plane, metal, _disc(*hub, 0.16))
    body = np.array([[-0.9, 0.72], [-0.2, 0.76], [0.05, 0.95],
                     [0.42, 0.92], [0.48, 0.72], [0.15, 0.55],
                     [-0.55, 0.58]]) * (d, 1)
    canvas.paint(plane, dark, _rect(-0.3, 0.25, 0.25, 0.62) * (d, 1),
                 _limb(front, (0.45 * d, 1.0), 0.07))
    canvas.paint(plane, metal, _limb((-0.15 * d, 0.3), (-0.9 * d, 0.42),
                                     0.1))
    canvas.paint(plane, paint, body, _disc(0.55 * d, 0.9, 0.09, 10))
    return (-0.35 * d, 0.88), (0.36 * d, 1.08)


def _draw_bin(canvas: _Canvas, rng: np.random.Generator,
              plane: _Plane) -> None:
    """Street furniture (bins, boxes) is 'static' in Cityscapes: ignored."""
    w, h = rng.uniform(0.4, 1.2), rng.uniform(0.6, 1.4)
    inst = canvas.add(IGNORE_INDEX, _pick(rng, _FENCE + _METAL, 14),
                      grain=5)
    canvas.paint(plane, inst, _rect(-w / 2, 0, w / 2, h))


# --------------------------------------------------------------------------
# Vehicles: boxes with an end face towards the camera and a visible side
# --------------------------------------------------------------------------
_VEHICLE_SIZE = {  # width, length, height range, metres
    'car': (1.8, 4.4, (1.4, 1.7)),
    'truck': (2.45, 8.5, (3.0, 3.8)),
    'bus': (2.55, 12.0, (3.0, 3.2)),
    'tram': (2.4, 28.0, (3.3, 3.6)),
}
_VEHICLE_LABEL = {'car': CAR, 'truck': TRUCK, 'bus': BUS, 'tram': TRAIN}
_VEHICLE_PAINT = {'car': _PAINT, 'truck': _TRUCK_PAINT, 'bus': _BUS_PAINT,
                  'tram': _TRAM_PAINT}


def _vehicle_item(rng: np.random.Generator, cam: _Camera, kind: str,
                  x: float, z: float, oncoming: bool) -> tuple:
    return _STREET, z, partial(_draw_vehicle, rng=rng, cam=cam, kind=kind,
                               x=x, z=z, oncoming=oncoming)


def _draw_vehicle(canvas: _Canvas, rng: np.random.Generator, cam: _Camera,
                  kind: str, x: float, z: float, oncoming: bool) -> None:
    """A vehicle centred at ``x`` whose nearest face is ``z`` metres ahead.

    Paints the side the camera sees (if the vehicle is off to one side) and
    the end that faces it, and darkens the ground beneath it.
    """
    w, length, (h_lo, h_hi) = _VEHICLE_SIZE[kind]
    canvas.cast_shadow([_ground_quad(cam, x - w * 0.55, x + w * 0.55,
                                     z - 0.2, z + length)],
                       rng.uniform(0.25, 0.5))
    h = rng.uniform(h_lo, h_hi)
    label = _VEHICLE_LABEL[kind]
    paint = _pick(rng, _VEHICLE_PAINT[kind], 14)
    if abs(x) > w / 2:  # one side shows
        near_side = x - np.sign(x) * w / 2
        side = _Plane(cam, near_side, z, (0.0, 1.0))
        _draw_vehicle_side(canvas, rng, side, kind, label, paint, length, h,
                           front_far=not oncoming)
    end = _Plane(cam, x, z)
    _draw_vehicle_end(canvas, rng, end, kind, label, paint, w, h,
                      front=oncoming)


def _draw_wheels(canvas: _Canvas, rng: np.random.Generator, plane: _Plane,
                 label: int, centres, r: float) -> None:
    tyre = canvas.add(label, _grey(rng, 15, 45), grain=3)
    rim = canvas.add(label, _grey(rng, 90, 190), grain=3)
    canvas.paint(plane, tyre, *[_disc(a, r, r) for a in centres])
    canvas.paint(plane, rim, *[_disc(a, r, r * 0.55, 10) for a in centres])


def _draw_vehicle_side(canvas: _Canvas, rng: np.random.Generator,
                       plane: _Plane, kind: str, label: int, paint,
                       length: float, h: float, front_far: bool) -> None:
    """Side view in local metres: ``a`` from 0 (near end) to ``length``."""
    def at(a):  # with the front at a = length when it points away
        return a if front_far else length - a

    body = canvas.add(label, paint, (0.3, rng.uniform(-0.3, 0.3)),
                      blotch=3, grain=3)
    glass = canvas.add(label, _pick(rng, _GLASS, 12), (0.2, 0), grain=3)
    if kind == 'car':
        lower = np.array([[0, 0.3], [length, 0.3], [length, 0.75],
                          [length - 0.9, 0.85], [0.05, 0.88], [0, 0.7]])
        cabin = np.array([[length - 1.0, 0.84], [length - 1.7, h],
                          [0.7, h], [0.2, 0.87]])
        lower[:, 0], cabin[:, 0] = at(lower[:, 0]), at(cabin[:, 0])
        canvas.paint(plane, body, lower, cabin)
        window = cabin.mean(0) + (cabin - cabin.mean(0)) * (0.85, 0.7)
        canvas.paint(plane, glass, window)
        canvas.paint(plane, body, _rect(at(length * 0.5) - 0.06, 0.85,
                                        at(length * 0.5) + 0.06, h))
        wheels, r = (at(0.8), at(length - 0.85)), 0.32
    elif kind == 'truck':
        box = canvas.add(label, _pick(rng, _TRUCK_PAINT, 14), (0.3, 0),
                         blotch=4, grain=3)
        dark = canvas.add(label, _grey(rng, 20, 60), grain=3)
        canvas.paint(plane, dark, _rect(0, 0.45, length, 0.95))
        cab = sorted((at(length - 2.1), at(length)))
        canvas.paint(plane, body, _rect(cab[0], 0.5, cab[1], 2.9))
        canvas.paint(plane, glass, _rect(cab[0] + 0.4, 1.8, cab[1] - 0.4,
                                         2.6))
        rest = sorted((at(0), at(length - 2.2)))
        canvas.paint(plane, box, _rect(rest[0], 0.95, rest[1], h))
        wheels, r = (at(1.1), at(2.2), at(length - 1.3)), 0.48
    else:  # bus or tram: long box with a band of windows and doors
        canvas.paint(plane, body, _rect(0, 0.3, length, h))
        canvas.paint(plane, glass, _rect(0.3, 1.15, length - 0.3, h - 0.4))
        pitch = 1.5 if kind == 'bus' else 1.7
        canvas.paint(plane, body, *[_rect(a, 1.1, a + 0.12, h - 0.35)
                                    for a in np.arange(0.3, length, pitch)])
        doors = np.arange(1.2, length - 2.2, 6.0 if kind == 'bus' else 7.5)
        canvas.paint(plane, glass, *[_rect(a, 0.35, a + 1.1, h - 0.4)
                                     for a in doors])
        wheels = (at(2.5), at(length - 2.7)) if kind == 'bus' else tuple(
            np.arange(1.5, length, 9.0))
        r = 0.5 if kind == 'bus' else 0.42
        if kind == 'tram':
            _draw_pantograph(canvas, plane, body, length / 2, h)
    _draw_wheels(canvas, rng, plane, label, wheels, r)


def _draw_pantograph(canvas: _Canvas, plane: _Plane, inst: int, a: float,
                     h: float) -> None:
    canvas.paint(plane, inst, _limb((a - 0.6, h), (a, h + 0.9), 0.06),
                 _limb((a, h + 0.9), (a + 0.5, h + 0.4), 0.06),
                 _rect(a - 0.8, h + 0.85, a + 0.8, h + 0.95))


def _draw_vehicle_end(canvas: _Canvas, rng: np.random.Generator,
                      plane: _Plane, kind: str, label: int, paint, w: float,
                      h: float, front: bool) -> None:
    """Rear (or front, if ``front``) of a vehicle, centred on the plane."""
    half = w / 2
    body = canvas.add(label, paint, (0.3, rng.uniform(-0.3, 0.3)),
                      blotch=3, grain=3)
    glass = canvas.add(label, _pick(rng, _GLASS, 12), (0.3, 0), grain=3)
    dark = canvas.add(label, _grey(rng, 15, 50), grain=3)
    lamp_colour = (235, 230, 200) if front else (200, 30, 30)
    lamp = canvas.add(label, _pick(rng, (lamp_colour,), 15), grain=3)
    wheel_a = half - 0.3
    canvas.paint(plane, dark, _rect(-wheel_a - 0.14, 0, -wheel_a + 0.14,
                                    0.4), _rect(wheel_a - 0.14, 0,
                                                wheel_a + 0.14, 0.4))
    if kind == 'car':
        canvas.paint(plane, body, _rect(-half, 0.2, half, 0.62 * h),
                     np.array([[-half * 0.92, 0.6 * h],
                               [half * 0.92, 0.6 * h],
                               [half * 0.72, h], [-half * 0.72, h]]))
        top = 0.93 * h
        canvas.paint(plane, glass, np.array(
            [[-half * 0.82, 0.66 * h], [half * 0.82, 0.66 * h],
             [half * 0.68, top], [-half * 0.68, top]]))
        lamp_b = 0.45 * h
        plate = 0.28 * h
    else:
        canvas.paint(plane, body, _rect(-half, 0.4, half, h))
        if front:  # windscreen; a truck's is the cab's, under the box
            window = (1.7, 2.6) if kind == 'truck' else (1.1, h - 0.3)
        else:  # rear window; a truck's box has none
            window = None if kind == 'truck' else (h - 1.1, h - 0.3)
        if window:
            canvas.paint(plane, glass, _rect(-half + 0.12, window[0],
                                             half - 0.12, window[1]))
        if kind == 'truck' and not front:  # rear doors of the box
            canvas.paint(plane, dark, _rect(-0.03, 0.9, 0.03, h - 0.1),
                         _rect(-half, 0.4, half, 0.8))
        if kind == 'tram':
            _draw_pantograph(canvas, plane, body, 0.0, h)
        lamp_b, plate = 0.55, 0.65
    canvas.paint(plane, lamp, _rect(-half + 0.05, lamp_b, -half + 0.35,
                                    lamp_b + 0.15),
                 _rect(half - 0.35, lamp_b, half - 0.05, lamp_b + 0.15))
    plate_inst = canvas.add(label, _grey(rng, 190, 240), grain=3)
    canvas.paint(plane, plate_inst, _rect(-0.26, plate, 0.26, plate + 0.11))


# --------------------------------------------------------------------------
# Placing things in the street
# --------------------------------------------------------------------------
def _traffic_items(rng: np.random.Generator, cam: _Camera,
                   street: _Street) -> list:
    """Vehicles in the lanes, a tram on its track, riders crossing."""
    items, taken = [], []
    for _ in range(rng.poisson(3.0)):
        lane = int(rng.integers(street.lanes))
        x = street.lane_x(lane) + rng.uniform(-0.3, 0.3)
        z = rng.uniform(7, 0.6 * street.far)
        kind = rng.choice(['car', 'truck', 'bus'], p=[0.7, 0.15, 0.15])
        if any(abs(x - tx) < 2.6 and abs(z - tz) < 14 for tx, tz in taken):
            continue
        taken.append((x, z))
        items.append(_vehicle_item(rng, cam, str(kind), x, z,
                                   lane < street.oncoming))
    if street.tram_x is not None:
        items.append(_vehicle_item(rng, cam, 'tram', street.tram_x,
                                   rng.uniform(8, 45), rng.random() < 0.5))
    for _ in range(rng.binomial(3, 0.3)):
        z = rng.uniform(6, 35)
        x = rng.uniform(street.left + 1, street.right - 1)
        items.append((_STREET, z, partial(
            _draw_cyclist, rng=rng, plane=_Plane(cam, x, z),
            motor=rng.random() < 0.4, ridden=True)))
    return items


def _parked_items(rng: np.random.Generator, cam: _Camera,
                  side: _Side) -> list:
    """Vehicles along a parking strip, side on to the camera."""
    if side.verge != 'parking':
        return []
    items = []
    z = rng.uniform(3, 10)
    while z < 60:
        kind = str(rng.choice(['car', 'truck', 'bus'], p=[0.8, 0.1, 0.1]))
        w, length, _ = _VEHICLE_SIZE[kind]
        x = side.x(0.15 + w / 2)
        if rng.random() < 0.8:
            items.append(_vehicle_item(rng, cam, kind, x, z, False))
        z += length + rng.uniform(0.8, 6)
    return items


def _sidewalk_items(rng: np.random.Generator, cam: _Camera, street: _Street,
                    side: _Side) -> list:
    """Poles, pedestrians, parked bicycles, trees and bins."""
    items = []
    end = 0.8 * street.far

    def spot(d_lo, d_hi, z_lo=4.0, z_hi=end):
        return side.inner + side.sign * rng.uniform(d_lo, d_hi) * \
            side.sidewalk_width, rng.uniform(z_lo, z_hi)

    kinds = ['light', 'sign'] if rng.random() < 0.8 else []
    z = rng.uniform(4, 12)
    while z < end:
        kind = kinds.pop(rng.integers(len(kinds))) if kinds else str(
            rng.choice(['lamp', 'light', 'sign'], p=[0.4, 0.25, 0.35]))
        plane = _Plane(cam, side.x(side.verge_width + 0.35), z)
        items.append((_STREET, z, partial(_draw_pole, rng=rng, plane=plane,
                                          kind=kind,
                                          toward_road=-side.sign)))
        z += rng.uniform(8, 22)
    for _ in range(rng.poisson(1.8)):
        x, z = spot(0.15, 0.85, 3.5, 45)
        items.append((_STREET, z, partial(_draw_person, rng=rng,
                                          plane=_Plane(cam, x, z))))
    for _ in range(rng.binomial(3, 0.2)):
        x, z = spot(0.4, 0.9, 4, 40)
        items.append((_STREET, z, partial(
            _draw_cyclist, rng=rng, plane=_Plane(cam, x, z),
            motor=rng.random() < 0.4, ridden=False)))
    if rng.random() < 0.4:
        z = rng.uniform(5, 15)
        while z < end:
            x = side.x(side.verge_width + 0.6)
            items.append((_STREET, z, partial(_draw_tree, rng=rng,
                                              plane=_Plane(cam, x, z))))
            z += rng.uniform(8, 15)
    for _ in range(rng.binomial(2, 0.3)):
        x, z = spot(0.6, 0.95, 4, 40)
        items.append((_STREET, z, partial(_draw_bin, rng=rng,
                                          plane=_Plane(cam, x, z))))
    return items


# --------------------------------------------------------------------------
# Ego vehicle, shadows, label clean-up
# --------------------------------------------------------------------------
def _draw_ego_hood(canvas: _Canvas, rng: np.random.Generator) -> None:
    """The bonnet of the recording car: 'ego vehicle', ignored."""
    h, w = canvas.height, canvas.width
    rise = h * rng.uniform(0.04, 0.1)
    u = np.linspace(-1, w + 1, 24)
    v = h - rise * (1 - ((u - w / 2) / (0.75 * w)) ** 2)
    hood = canvas.add(IGNORE_INDEX, _pick(rng, _PAINT, 10),
                      (rng.uniform(0.5, 1.5), 0), blotch=2, grain=2)
    canvas.fill(hood, [np.concatenate([np.stack([u, v], -1),
                                       [[w + 1, h + 1], [-1, h + 1]]])])


def _cast_shadows(canvas: _Canvas, rng: np.random.Generator, cam: _Camera,
                  street: _Street) -> None:
    """Shadows of one row of buildings, falling across the street."""
    if rng.random() < 0.4:
        return
    side = street.sides[rng.integers(2)]
    quads = []
    z = cam.near
    while z < street.far:
        length = rng.uniform(8, 30)
        reach = rng.uniform(0, 14) if rng.random() < 0.7 else 0.0
        x_out, x_in = side.outer, side.outer - side.sign * reach
        quads.append(_ground_quad(cam, min(x_in, x_out), max(x_in, x_out),
                                  z, z + length))
        z += length
    canvas.cast_shadow(quads, rng.uniform(0.45, 0.75))


def _ignore_vehicle_borders(label: np.ndarray) -> np.ndarray:
    """Ignore a one-pixel band inside vehicle outlines."""
    vehicles = np.isin(label, (CAR, TRUCK, BUS, TRAIN)).astype(np.uint8)
    inside = cv2.erode(vehicles, np.ones((3, 3), np.uint8))
    border = (vehicles > 0) & (inside == 0)
    return np.where(border, np.uint8(IGNORE_INDEX), label)


def draw_scene(rng: np.random.Generator, height: int,
               width: int) -> tuple:
    """Draw one street scene and its label map.

    Args:
        rng (np.random.Generator): Source of all randomness; the result is a
            pure function of its state and the size.
        height (int): Image height in pixels.
        width (int): Image width in pixels.

    Returns:
        tuple[np.ndarray, np.ndarray]: The image, BGR uint8 of shape
        ``(height, width, 3)``, and the label map, uint8 of shape
        ``(height, width)`` holding Cityscapes train ids (0-18) and 255.
    """
    canvas = _Canvas(height, width)
    cam = _random_camera(rng, height, width)
    street = _random_street(rng)
    _draw_sky(canvas, rng)
    _draw_far_band(canvas, rng, cam, street)
    _draw_skyline(canvas, rng, cam, street)
    _draw_ground(canvas, rng, cam, street)
    items = []
    for side in street.sides:
        end = street.far * (1.0 if rng.random() < 0.8 else
                            rng.uniform(0.4, 0.9))
        items += _roadside_items(rng, cam, side, end)
        items += _sidewalk_items(rng, cam, street, side)
        items += _parked_items(rng, cam, side)
    items += _traffic_items(rng, cam, street)
    _cast_shadows(canvas, rng, cam, street)  # vehicles add their own later
    # Painter's algorithm: layer by layer, far to near within a layer.
    for _, _, draw in sorted(items, key=lambda item: (item[0], -item[1])):
        draw(canvas)
    if rng.random() < 0.35:
        _draw_ego_hood(canvas, rng)
    image = canvas.render(rng)
    label = canvas.labels_map()
    if rng.random() < 0.5:
        label = _ignore_vehicle_borders(label)
    return image, label


# --------------------------------------------------------------------------
# Writing a dataset
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoDatasetSummary:
    """What :func:`generate_demo_dataset` wrote.

    Args:
        out_dir (Path): Root of the dataset (``data_root`` in a config).
        num_train (int): Images in ``train``.
        num_val (int): Images in ``val``.
        size (tuple[int, int]): Image ``(height, width)``.
        seed (int): Seed the images were drawn from.
        cities (tuple[str, ...]): City names used in the file layout.
        class_pixels (tuple[int, ...]): Pixels of each train id over both
            splits, then the ignored pixels.
        seconds (float): Wall-clock time taken.
    """

    out_dir: Path
    num_train: int
    num_val: int
    size: tuple
    seed: int
    cities: tuple
    class_pixels: tuple
    seconds: float

    @property
    def class_frequencies(self) -> dict:
        """Fraction of all pixels per class name, and ``'ignore'``."""
        total = max(sum(self.class_pixels), 1)
        names = CLASSES + ('ignore', )
        return {n: c / total for n, c in zip(names, self.class_pixels)}

    def __str__(self) -> str:
        freq = ' '.join(f'{n.replace(" ", "_")}={f:.1%}'
                        for n, f in self.class_frequencies.items())
        per_image = self.seconds / max(self.num_train + self.num_val, 1)
        return (f'{self.num_train} train + {self.num_val} val images of '
                f'{self.size[0]}x{self.size[1]} in {self.out_dir} '
                f'({self.seconds:.1f} s, {per_image * 1000:.0f} ms/image); '
                f'pixels: {freq}')


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator that draws image ``index`` of ``split``.

    Each image has its own stream, so an image does not depend on how many
    others are generated.

    Args:
        seed (int): Dataset seed.
        split (str): ``'train'`` or ``'val'``.
        index (int): Position of the image in its split.
    """
    return np.random.default_rng([seed, SPLITS.index(split), index])


def sample_names(city: str, index: int) -> tuple:
    """Cityscapes file names ``(image, label)`` of one sample.

    Args:
        city (str): City name.
        index (int): Sequence number of the sample within its city.
    """
    stem = f'{city}_{index:06d}_{19:06d}'  # gtFine frames are frame 19
    return stem + IMG_SUFFIX, stem + SEG_MAP_SUFFIX


def generate_demo_dataset(out_dir: str | os.PathLike = 'data/demo_cityscapes',
                          num_train: int = 40,
                          num_val: int = 10,
                          size: Sequence[int] = (256, 512),
                          seed: int = 0,
                          cities: Sequence[str] = DEFAULT_CITIES,
                          overwrite: bool = False) -> DemoDatasetSummary:
    """Write a Cityscapes-format dataset of procedurally drawn streets.

    The layout is Cityscapes' own::

        out_dir/leftImg8bit/{train,val}/<city>/<stem>_leftImg8bit.png
        out_dir/gtFine/{train,val}/<city>/<stem>_gtFine_labelTrainIds.png

    where ``<stem>`` is ``<city>_<seq:06d>_000019``, images go to
    ``cities`` in turn, and ``demo_scenes.json`` records how it was made.
    Labels are single-channel train ids (0-18) and 255 (ignored).

    The same arguments give byte-identical files, and image ``i`` of a split
    does not depend on how many images are made. The dataset is written
    into a temporary sibling of ``out_dir`` and renamed into place at the
    end, so a failed or interrupted run leaves no partial dataset (and any
    previous one intact).

    Args:
        out_dir (str | PathLike): Dataset root. It may not exist yet, be
            empty or hold an earlier demo dataset (which is replaced);
            anything else needs ``overwrite``. Default:
            ``'data/demo_cityscapes'``.
        num_train (int): Training images. Default: 40.
        num_val (int): Validation images. Default: 10.
        size (Sequence[int]): Image ``(height, width)``, each at least
            ``MIN_SIDE``. Default: ``(256, 512)``.
        seed (int): Non-negative seed. Default: 0.
        cities (Sequence[str]): City names: lower-case letters, digits and
            ``-``. Default: ``DEFAULT_CITIES``.
        overwrite (bool): Replace ``out_dir`` even if it is not a demo
            dataset. Default: False.

    Returns:
        DemoDatasetSummary: Counts, class pixel counts and timing.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    height, width = _check_options(num_train, num_val, size, seed, cities)
    cities = tuple(cities)
    target = Path(os.path.abspath(out_dir))  # so '.' has a name and parent
    _check_out_dir(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    counts = np.zeros(256, np.int64)
    with _staging_dir(target) as staging:
        for split, num in zip(SPLITS, (num_train, num_val)):
            counts += _write_split(staging, split, num, (height, width),
                                   seed, cities)
        class_pixels = tuple(int(c) for c in counts[:len(CLASSES)]) + (
            int(counts[IGNORE_INDEX]), )
        meta = {
            'generator': GENERATOR,
            'format_version': FORMAT_VERSION,
            'num_train': num_train,
            'num_val': num_val,
            'size': [height, width],
            'seed': seed,
            'cities': list(cities),
            'classes': list(CLASSES),
            'class_pixels': list(class_pixels),
        }
        (staging / MARKER_FILE).write_text(
            json.dumps(meta, indent=2, sort_keys=True) + '\n')
    return DemoDatasetSummary(out_dir, num_train, num_val, (height, width),
                              seed, cities, class_pixels,
                              time.perf_counter() - start)


def _write_split(root: Path, split: str, num: int, size: tuple, seed: int,
                 cities: tuple) -> np.ndarray:
    """Draw and write one split; returns pixel counts per label value."""
    counts = np.zeros(256, np.int64)
    for index in range(num):
        city = cities[index % len(cities)]
        img_name, seg_name = sample_names(city, index // len(cities))
        image, label = draw_scene(image_rng(seed, split, index), *size)
        _write_png(root / 'leftImg8bit' / split / city / img_name, image)
        _write_png(root / 'gtFine' / split / city / seg_name, label)
        counts += np.bincount(label.ravel(), minlength=256)
    return counts


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed settings make the bytes a function of the pixels alone.
    if not cv2.imwrite(str(path), array, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f'OpenCV could not write {path}')


@contextmanager
def _staging_dir(out_dir: Path) -> Iterator[Path]:
    """A temporary sibling of ``out_dir``, renamed onto it when the block
    succeeds and deleted when it fails (KeyboardInterrupt included)."""
    path = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.partial-',
                                 dir=out_dir.parent))
    try:
        yield path
        _replace_dir(path, out_dir)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def _replace_dir(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``, replacing a directory already there."""
    if not dst.exists():
        os.rename(src, dst)
        return
    old = Path(tempfile.mkdtemp(prefix=f'.{dst.name}.old-', dir=dst.parent))
    os.rename(dst, old / 'data')
    try:
        os.rename(src, dst)
    except BaseException:
        os.rename(old / 'data', dst)  # put the previous dataset back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _check_options(num_train, num_val, size, seed, cities) -> tuple:
    """Validate the generator options; returns ``(height, width)``."""
    for name, value in (('num_train', num_train), ('num_val', num_val)):
        if not _is_int(value) or value < 1:
            raise ValueError(f'{name} must be a positive integer, got '
                             f'{value!r}')
    if (isinstance(size, (str, bytes)) or not hasattr(size, '__len__')
            or len(size) != 2 or not all(_is_int(s) for s in size)):
        raise ValueError(f'size must be (height, width), two integers, got '
                         f'{size!r}')
    if min(size) < MIN_SIDE:
        raise ValueError(f'size must be at least {MIN_SIDE} pixels each '
                         f'way, got (height, width) = {tuple(size)}')
    if not _is_int(seed) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got '
                         f'{seed!r}')
    _check_cities(cities)
    return int(size[0]), int(size[1])


def _check_cities(cities) -> None:
    if isinstance(cities, (str, bytes)) or not cities:
        raise ValueError(f'cities must be a non-empty sequence of names, '
                         f'got {cities!r}')
    for city in cities:
        if not isinstance(city, str) or not re.fullmatch(
                r'[a-z0-9][a-z0-9-]*', city):
            raise ValueError(f'cities must be lower-case letters, digits '
                             f'and "-" (file names are split on "_"), got '
                             f'{city!r}')
    if len(set(cities)) != len(cities):
        raise ValueError(f'cities must be distinct, got {list(cities)}')


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(
        value, bool)


def is_demo_dataset(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a dataset written by this module.

    Args:
        path (str | PathLike): Directory to look at.
    """
    try:
        meta = json.loads((Path(path) / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get('generator') == GENERATOR


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse a file, or a foreign non-empty directory unless overwriting."""
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f'out_dir must be a directory, but {out_dir} '
                              f'is a file')
    if (out_dir.is_dir() and not overwrite and any(out_dir.iterdir())
            and not is_demo_dataset(out_dir)):
        raise FileExistsError(
            f'out_dir {out_dir} is not empty and holds no {MARKER_FILE}, so '
            f'it is not an earlier demo dataset; pass overwrite=True '
            f'(--overwrite) to replace it')


def iter_samples(root: str | os.PathLike, split: str) -> Iterator[tuple]:
    """Yield ``(image_path, label_path)`` of a split, sorted.

    Args:
        root (str | PathLike): Dataset root.
        split (str): ``'train'`` or ``'val'``.
    """
    img_dir = Path(root) / 'leftImg8bit' / split
    for img in sorted(img_dir.glob(f'*/*{IMG_SUFFIX}')):
        stem = img.name[:-len(IMG_SUFFIX)]
        yield img, (Path(root) / 'gtFine' / split / img.parent.name /
                    (stem + SEG_MAP_SUFFIX))


