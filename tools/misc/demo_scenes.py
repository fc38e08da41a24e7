"""Procedurally drawn street scenes, written out as a Cityscapes dataset.

Cityscapes is 11 GB; these small scenes, in its layout and with its 19
train ids, let the demo and the tests train and evaluate a real model on a
CPU in minutes. ``make_demo_dataset.py`` beside it is the command line.

How a scene is drawn: a pinhole camera looks down a straight street. Road,
verges and sidewalks lie on the ground; facades, walls and fences stand on
vertical planes along the sidewalks; poles, people, trees and vehicles
(boxes) stand on the ground. Every part is a flat polygon, projected into
the image and painted far to near into an *instance map*; the label map and
the image (colour, shading, texture, blur, noise) are both rendered from it,
so they always agree. Colours overlap across classes (grey road, walls, cars
and poles; green trees and grass; blue-grey sky and windows), so that a
model has to use shape and context. Label 255 (ignored) marks parking
strips and the bonnet of the ego vehicle, as in Cityscapes.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import mmseg_ocr_plus  # noqa: F401  (its compat fixes go before MMSeg)

# isort: split
import cv2
import numpy as np
from mmseg.datasets import CityscapesDataset

CLASSES = tuple(CityscapesDataset.METAINFO['classes'])
PALETTE = tuple(tuple(c) for c in CityscapesDataset.METAINFO['palette'])
IGNORE_INDEX = 255
SPLITS = ('train', 'val')
IMG, SEG_MAP = '_leftImg8bit.png', '_gtFine_labelTrainIds.png'  # suffixes
MARKER_FILE = 'demo_scenes.json'  # written last: a dataset we may replace
GENERATOR = 'demo_scenes'  # in MARKER_FILE; matches the pre-tools/ name too
MIN_SIDE = 32  # smallest image height or width that still shows a street

(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION,
 TERRAIN, SKY, PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE,
 BICYCLE) = range(len(CLASSES))

# Base colours (RGB), overlapping across classes on purpose; (lo, hi): greys
_STONE = ((150, 150, 148), (175, 170, 160), (125, 125, 128),
          (190, 185, 175), (105, 105, 108), (155, 115, 105))
_FACADE = ((205, 200, 190), (180, 170, 150), (160, 95, 75), (125, 125, 130),
           (215, 195, 160), (100, 100, 105), (195, 150, 120))
_PAINT = ((225, 225, 225), (170, 170, 175), (45, 45, 50), (25, 35, 70),
          (150, 25, 25), (50, 85, 150), (230, 200, 40), (60, 110, 70))
_GREEN = ((60, 95, 40), (80, 115, 45), (95, 130, 60), (120, 140, 70),
          (110, 100, 70), (140, 135, 90))
_SKY = ((120, 165, 220), (150, 185, 230), (175, 200, 225), (190, 195, 200))
_GLASS = ((45, 50, 60), (70, 80, 95), (110, 130, 150), (150, 170, 190))
_CLOTHES = ((30, 30, 35), (40, 50, 90), (150, 30, 35), (220, 220, 215),
            (190, 170, 140), (60, 90, 60), (110, 80, 55))


# ---------------------------------------------------------------- geometry
@dataclass(frozen=True)
class _Camera:
    """Pinhole camera at ``(0, height, 0)`` looking along +Z (metres: X
    right, Y up, Z ahead), no roll."""

    focal: float  # pixels per metre at a depth of 1 m
    cx: float  # image column of the vanishing point
    horizon: float  # image row of the vanishing point
    height: float  # metres above the road
    near: float  # depths are clamped to at least this, metres

    def project(self, x, y, z) -> np.ndarray:
        """Image ``(u, v)`` of world points, stacked on a new last axis."""
        z = np.maximum(z, self.near)
        return np.stack([self.cx + self.focal * x / z,
                         self.horizon + self.focal * (self.height - y) / z],
                        axis=-1)

    def level(self, x0, x1, z0, z1, y: float = 0.0) -> np.ndarray:
        """Image quad of ``[x0, x1] x [z0, z1]`` at height ``y``."""
        return self.project(np.array([x0, x1, x1, x0]), y,
                            np.array([z0, z0, z1, z1]))

    def plane(self, x: float, z: float, axis=(1.0, 0.0)) -> Callable:
        """Projection of ``(a, b)`` metres (along ``axis``, up) on the upright
        plane through ``(x, z)``: axis ``(1, 0)`` faces us, ``(0, 1)`` runs
        down the street."""
        return lambda p: self.project(x + p[..., 0] * axis[0], p[..., 1],
                                      z + p[..., 0] * axis[1])


def _rect(a0: float, b0: float, a1: float, b1: float) -> np.ndarray:
    return np.array([[a0, b0], [a1, b0], [a1, b1], [a0, b1]], np.float64)


def _disc(ca: float, cb: float, r: float, n: int = 12) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([ca + r * np.cos(t), cb + r * np.sin(t)], axis=-1)


def _limb(p, q, width: float) -> np.ndarray:
    """Quad of ``width`` around the segment from ``p`` to ``q``."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    n = np.array([q[1] - p[1], p[0] - q[0]])
    n *= width / 2 / max(np.hypot(*n), 1e-9)
    return np.array([p + n, q + n, q - n, p - n])


# --------------------------------------- canvas: instance map and looks
class _Canvas:
    """Instance map being painted, and the look of every instance."""

    def __init__(self, rng: np.random.Generator, height: int,
                 width: int) -> None:
        self.rng = rng
        self.ids = np.zeros((height, width), np.int32)
        self.labels = [IGNORE_INDEX]  # instance 0 is never painted
        self.looks = [(0.0, ) * 7]  # B, G, R, dy, dx, blotch, grain

    def add(self, label: int, colour, gradient=(0.0, 0.0), blotch=5.0,
            grain=3.0) -> int:
        """Register an instance; return its id. ``colour``: RGB, a palette
        or a grey range; ``gradient = (dy, dx)``: brightening over the image
        height and width; ``blotch``, ``grain``: texture strengths."""
        if len(colour) == 2:  # a range of greys
            colour = self.rng.uniform(*colour) + self.rng.uniform(-6, 6, 3)
        elif np.ndim(colour) == 2:  # a palette: one of it, jittered
            colour = np.add(colour[self.rng.integers(len(colour))],
                            self.rng.normal(0.0, 12.0, 3))
        self.labels.append(int(label))
        self.looks.append((*colour[::-1], *gradient, blotch, grain))
        return len(self.labels) - 1

    def fill(self, inst: int, polygons, even_odd: bool = False) -> None:
        """Paint image-space ``[N, 2]`` polygons with ``inst``; with
        ``even_odd``, where two overlap neither is painted (a ring)."""
        pts = [np.rint(np.asarray(p) * 8).astype(np.int32) for p in polygons]
        for group in [pts] if even_odd and pts else [[p] for p in pts]:
            cv2.fillPoly(self.ids, group, inst, cv2.LINE_8, 3)  # 8 = 2 ** 3

    def paint(self, plane: Callable, inst: int, *shapes, **kwargs) -> None:
        """Paint shapes given in the metres of ``plane``; see ``fill``."""
        self.fill(inst, [plane(np.asarray(s, np.float64)) for s in shapes],
                  **kwargs)

    def render(self) -> tuple:
        """The image (BGR uint8) and the label map (uint8): per pixel
        ``colour * gain * shading + texture``, blurred, with noise."""
        rng, (h, w) = self.rng, self.ids.shape
        looks = np.asarray(self.looks, np.float32)  # [N, 7]
        dy, dx, blotch, grain = (np.take(looks[:, k], self.ids)
                                 for k in range(3, 7))  # [H, W] each
        light = (1 + dy * np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
                 + dx * np.linspace(-0.5, 0.5, w, dtype=np.float32))
        smooth = np.zeros((h, w), np.float32)  # blotches of h/16 and h/64
        for cell in (max(h // 16, 2), max(h // 64, 1)):
            small = rng.standard_normal((h // cell + 2, w // cell + 2),
                                        np.float32)
            smooth += 0.7 * cv2.resize(small, (w, h),
                                       interpolation=cv2.INTER_CUBIC)
        contrast = rng.uniform(0.85, 1.15)  # and exposure, white balance
        gain = contrast * rng.uniform(0.75, 1.2) * rng.uniform(0.93, 1.07, 3)
        texture = blotch * smooth + grain * rng.standard_normal((h, w),
                                                                np.float32)
        texture = texture * float(gain.mean()) + 128 * (1 - contrast) + .5
        image = np.take(looks[:, :3] * gain.astype(np.float32), self.ids,
                        axis=0)  # [H, W, 3]
        image = image * light[..., None] + texture[..., None]
        image = cv2.GaussianBlur(image, (3, 3), rng.uniform(0.5, 0.9))
        image += np.float32(rng.uniform(2.0, 6.0)) * rng.standard_normal(
            image.shape, np.float32)
        image = np.clip(image, 0, 255).astype(np.uint8)
        return image, np.take(np.asarray(self.labels, np.uint8), self.ids)


# -------------------------------------------------- street layout, ground
@dataclass(frozen=True)
class _Side:
    """One side of the street, outward from the kerb at X = ``edge``."""

    sign: int  # -1: left of the camera, +1: right
    edge: float
    verge: int  # label of the strip before the sidewalk: terrain or parking
    verge_width: float  # 0 for none
    sidewalk_width: float
    outer: float  # X where the sidewalk ends

    def x(self, d: float) -> float:  # X of a point d metres out from edge
        return self.edge + self.sign * d


@dataclass(frozen=True)
class _Street:
    left: float  # X of the road edges
    right: float
    lanes: int
    far: float  # depth of the row of buildings closing the view
    sides: tuple


def _random_layout(rng: np.random.Generator, h: int, w: int) -> tuple:
    """A camera and the street in front of it."""
    focal, horizon = w * rng.uniform(0.7, 0.95), h * rng.uniform(0.36, 0.47)
    height = rng.uniform(1.3, 1.7)
    near = focal * height / (2.0 * h - horizon)  # ground at row 2h
    cam = _Camera(focal, w * rng.uniform(0.42, 0.58), horizon, height, near)
    lane, lanes = rng.uniform(3.0, 3.6), int(rng.integers(2, 5))
    cam_lane = int(rng.integers(lanes // 2, lanes))  # right half, as driving
    left = -(cam_lane + rng.uniform(0.35, 0.65)) * lane
    right, sides = left + lanes * lane, []
    for sign, edge in ((-1, left), (1, right)):
        verge = rng.choice([0, TERRAIN, IGNORE_INDEX], p=[0.35, 0.25, 0.4])
        width = {0: 0.0, TERRAIN: rng.uniform(1, 3), IGNORE_INDEX: 2.4}
        sidewalk = rng.uniform(1.8, 4.5)
        sides.append(_Side(sign, edge, int(verge), width[verge], sidewalk,
                           edge + sign * (width[verge] + sidewalk)))
    return cam, _Street(left, right, lanes, rng.uniform(70, 160),
                        tuple(sides))


def _draw_ground(canvas: _Canvas, cam: _Camera, street: _Street) -> None:
    """Sky, then the road, verges, sidewalks and the ground beyond them."""
    rng, (h, w), z0, z1 = canvas.rng, canvas.ids.shape, cam.near, street.far
    sky = canvas.add(SKY, _SKY, (rng.uniform(0.2, 0.6), 0),
                     blotch=rng.uniform(2, 8), grain=1.5)
    canvas.fill(sky, [_rect(-1, -1, w + 1, h + 1)])
    road = canvas.add(ROAD, (60, 135), (rng.uniform(-0.3, 0.2), 0),
                      blotch=rng.uniform(4, 10), grain=rng.uniform(4, 9))
    canvas.fill(road, [cam.level(street.left, street.right, z0, z1)])
    for side in street.sides:
        strips = [(TERRAIN, _GREEN, side.outer, side.x(400)),
                  (SIDEWALK, _STONE, side.x(side.verge_width), side.outer)]
        if side.verge_width:  # grass, or parking (ignored)
            strips.append((side.verge, _STONE if side.verge == IGNORE_INDEX
                           else _GREEN, side.edge, side.x(side.verge_width)))
        for label, palette, xa, xb in strips:
            inst = canvas.add(label, palette, (rng.uniform(-0.2, 0.2), 0),
                              rng.uniform(5, 12), rng.uniform(4, 9))
            canvas.fill(inst, [cam.level(min(xa, xb), max(xa, xb), z0, z1)])


# --------------------------------------------- things standing in a scene
def _draw_facade(canvas: _Canvas, plane: Callable, length: float,
                 height: float) -> None:
    """A building facade with a grid of windows and a door."""
    rng = canvas.rng
    wall = canvas.add(BUILDING, _FACADE, rng.uniform(-0.4, 0.4, 2),
                      rng.uniform(3, 10), rng.uniform(2, 8))
    canvas.paint(plane, wall, _rect(0, 0, length, height))
    floor, step = rng.uniform(2.8, 3.6), rng.uniform(2.0, 3.5)
    size = np.array([step, floor]) * rng.uniform(0.35, 0.6, 2)
    corners = np.stack(np.meshgrid(
        np.arange(step / 2, length - size[0], step),
        np.arange(rng.uniform(3.5, 5), height - 0.6 - size[1], floor)), -1)
    windows = plane(corners.reshape(-1, 1, 2) + _rect(0, 0, *size))
    glass = canvas.add(BUILDING, _GLASS + _SKY, (0.3, 0))  # sky mirrored?
    canvas.fill(glass, windows, even_odd=True)  # at once: they are disjoint
    door = rng.uniform(0.2, max(length - 1.6, 0.3))
    canvas.paint(plane, glass, _rect(door, 0, door + 1.4, 2.4))


def _draw_barrier(canvas: _Canvas, plane: Callable, length: float,
                  label: int) -> None:
    """A wall, or a fence of posts and rails that one sees through."""
    rng, height = canvas.rng, canvas.rng.uniform(0.8, 2.5)
    inst = canvas.add(label, _STONE, (rng.uniform(-0.3, 0.3), 0),
                      rng.uniform(4, 10), rng.uniform(3, 12))
    if label == WALL:
        return canvas.paint(plane, inst, _rect(0, 0, length, height))
    canvas.paint(plane, inst, *[_rect(0, b, length, b + 0.08) for b in (
        0.2, height - 0.1)], *[_rect(a, 0, a + 0.08, height)
                               for a in np.arange(0, length, 0.6)])


def _draw_tree(canvas: _Canvas, plane: Callable) -> None:
    """A tree, trunk included, as Cityscapes labels it: all vegetation."""
    rng = canvas.rng
    trunk_h, r = rng.uniform(1.8, 4.0), rng.uniform(1.5, 3.5)
    trunk = canvas.add(VEGETATION, (50, 100), blotch=4, grain=6)
    canvas.paint(plane, trunk, _limb((0, 0), (0, trunk_h + r), 0.3))
    for _ in range(2):  # clumps of leaves in two shades
        leaves = canvas.add(VEGETATION, _GREEN, (rng.uniform(-0.5, 0.2), 0),
                            12, rng.uniform(10, 20))
        canvas.paint(plane, leaves, *[
            _disc(*rng.normal((0, trunk_h + 0.8 * r), 0.45 * r),
                  r * rng.uniform(0.45, 0.8), 16)
            for _ in range(rng.integers(3, 6))])


def _draw_pole(canvas: _Canvas, plane: Callable) -> None:
    """A pole: a street lamp, or carrying a traffic light or sign."""
    rng = canvas.rng
    kind = rng.choice(['lamp', 'light', 'sign'], p=[0.3, 0.4, 0.3])
    top = dict(lamp=rng.uniform(6, 9), light=rng.uniform(3, 4.5),
               sign=rng.uniform(2.4, 3.6))[kind]
    canvas.paint(plane, canvas.add(POLE, _STONE, (0.2, 0), grain=4),
                 _rect(-0.08, 0, 0.08, top))
    if kind == 'light':  # a dark housing
        canvas.paint(plane, canvas.add(LIGHT, (20, 70), grain=6),
                     _rect(-0.2, top, 0.2, top + 0.9))
    if kind == 'sign' or rng.random() < 0.3:
        b = top - (0.4 if kind == 'sign' else 1.4)
        canvas.paint(plane, canvas.add(SIGN, _PAINT, grain=4),
                     _disc(0, b, rng.uniform(0.25, 0.4), 16))


def _draw_person(canvas: _Canvas, plane: Callable, hips, feet,
                 hands=((-0.25, 0.75), (0.25, 0.75)), label=PERSON) -> None:
    """A person from ``(a, b)`` points in plane metres: legs from ``hips``
    to each of ``feet``, torso and head above, arms to ``hands``."""
    neck = np.add(hips, (0, 0.55))
    trousers = canvas.add(label, _CLOTHES, (0.3, 0), grain=5)
    canvas.paint(plane, trousers, *[_limb(hips, foot, 0.13) for foot in feet])
    shirt = canvas.add(label, _CLOTHES, (0.3, 0), grain=5)
    canvas.paint(plane, shirt, _limb(hips, neck, 0.4),
                 *[_limb(neck - (0, 0.05), hand, 0.1) for hand in hands])
    canvas.paint(plane, canvas.add(label, _FACADE),  # some skin-coloured
                 _disc(*(neck + (0, 0.13)), 0.12))


def _draw_rider(canvas: _Canvas, plane: Callable, motor: bool) -> None:
    """A bicycle or motorcycle in profile, and its rider."""
    d = float(canvas.rng.choice([-1.0, 1.0]))  # facing left or right
    label = MOTORCYCLE if motor else BICYCLE
    r, hub = (0.31, 0.71) if motor else (0.34, 0.52)
    rear, front, seat, bar = ((-hub * d, r), (hub * d, r), (-0.3 * d, 0.9),
                              (0.35 * d, 1.05))
    canvas.paint(plane, canvas.add(label, (15, 50)), *[
        _disc(*hub, radius, 16) for hub in (rear, front)
        for radius in (r, r - (0.12 if motor else 0.05))],
        even_odd=True)  # tyres: rings
    frame = canvas.add(label, _PAINT, (0.3, 0), grain=4)
    body = np.array([[-0.9, 0.7], [0.5, 0.95], [0.5, 0.5], [-0.5, 0.5]])
    canvas.paint(plane, frame, *[_limb(p, q, 0.06) for p, q in (
        (rear, seat), (seat, (0, 0.3)), ((0, 0.3), rear), (seat, bar),
        ((0, 0.3), bar), (bar, front))], *([body * (d, 1)] if motor else []))
    _draw_person(canvas, plane, seat, [(-0.05 * d, 0.3)], [bar], RIDER)


_VEHICLES = {  # width, length, height range in metres, train id
    'car': (1.8, 4.4, (1.4, 1.7), CAR),
    'truck': (2.45, 8.5, (3.0, 3.8), TRUCK),
    'bus': (2.55, 12.0, (3.0, 3.2), BUS),
    'tram': (2.4, 28.0, (3.3, 3.6), TRAIN),
}


def _draw_vehicle(canvas: _Canvas, cam: _Camera, kind: str, x: float,
                  z: float) -> None:
    """A vehicle centred at ``x`` whose rear is ``z`` metres ahead, built
    of boxes: wheels, body (and a car's cabin) and windows."""
    w, length, heights, label = _VEHICLES[kind]
    h, half = canvas.rng.uniform(*heights), w / 2
    dark, glass = canvas.add(label, (15, 50)), canvas.add(label, _GLASS)
    body = canvas.add(label, _PAINT, (0.3, canvas.rng.uniform(-0.3, 0.3)))
    d = 0.64 if kind == 'car' else 1.0  # wheels: axles seen side and end
    for a in np.linspace(0.5, length - 0.5 - d, 2 if length < 20 else 4):
        _box(canvas, cam, dark, (x - half + .05, x + half - .05), (0, d),
             (z + a, z + a + d))
    roof = 0.55 * h if kind == 'car' else h  # a car's cabin sits on it
    _box(canvas, cam, body, (x - half, x + half), (0.3, roof), (z, z + length))
    if kind == 'car':  # a cabin between bonnet and boot, windows all round
        _box(canvas, cam, body, (x - 0.85 * half, x + 0.85 * half),
             (roof, h), (z + 0.9, z + length - 1.5))
        _box(canvas, cam, glass, (x - 0.86 * half, x + 0.86 * half),
             (0.6 * h, 0.93 * h), (z + 1.0, z + length - 1.6), top=False)
    elif kind != 'truck':  # a band of windows
        _box(canvas, cam, glass, (x - half - .01, x + half + .01),
             (1.15, h - 0.4), (z + 0.3, z + length - 0.3), top=False)


def _box(canvas: _Canvas, cam: _Camera, inst: int, xs: tuple, ys: tuple,
         zs: tuple, top: bool = True) -> None:
    """Paint the faces of the box ``xs x ys x zs`` (``(lo, hi)`` metres)
    that the camera sees: its top, the side facing it and its near end."""
    (x0, x1), (y0, y1), (z0, z1) = xs, ys, zs
    ys4 = np.array([y0, y0, y1, y1])
    faces = [cam.level(x0, x1, z0, z1, y1)] if top and y1 < cam.height else []
    if x1 < 0 or x0 > 0:
        faces.append(cam.project(x1 if x1 < 0 else x0, ys4,
                                 np.array([z0, z1, z1, z0])))
    faces.append(cam.project(np.array([x0, x1, x1, x0]), ys4, z0))
    canvas.fill(inst, faces)


# ------------------------------------------------ placing things, a scene
def _scene_items(rng: np.random.Generator, cam: _Camera,
                 street: _Street) -> list:
    """What stands in the scene, as ``(layer, depth, draw)``: along each
    side (layer 0) buildings, or trees behind a wall or fence; in the street
    (1) traffic, riders, parked cars, poles and pedestrians."""
    items, taken = [], []

    def add(layer: int, depth: float, draw, **kwargs) -> None:
        items.append((layer, depth, partial(draw, **kwargs)))

    for side in street.sides:
        z = cam.near
        while z < street.far:
            z1 = min(z + rng.uniform(8, 30), street.far)
            if rng.random() < 0.5:
                facade = partial(_draw_facade, height=rng.uniform(3.0, 3.6) *
                                 rng.integers(2, 9) + 1)
                if z > cam.near + 1:  # the end wall is not behind the camera
                    add(0, z, facade, length=40,
                        plane=cam.plane(side.outer, z, (side.sign, 0)))
                add(0, z, facade, length=z1 - z,
                    plane=cam.plane(side.outer, z, (0, 1)))
            else:
                for tz in rng.uniform(z, z1, rng.integers(3, 9)):
                    add(0, tz, _draw_tree, plane=cam.plane(
                        side.outer + side.sign * rng.uniform(1, 12), tz))
                if rng.random() < 0.8:  # sorted() keeps it after the trees
                    add(0, z, _draw_barrier, length=z1 - z,
                        plane=cam.plane(side.outer, z, (0, 1)),
                        label=rng.choice([WALL, FENCE]))
            z = z1
    lane = (street.right - street.left) / street.lanes
    for _ in range(rng.poisson(3.2)):
        x = street.left + lane * (rng.integers(street.lanes) + 0.5)
        z = rng.uniform(7, 0.6 * street.far)
        kind = str(rng.choice(list(_VEHICLES), p=[0.52, 0.17, 0.17, 0.14]))
        if all(abs(x - tx) > 2.6 or abs(z - tz) > 14 for tx, tz in taken):
            taken.append((x, z))
            add(1, z, _draw_vehicle, cam=cam, kind=kind, x=x, z=z)
    for z in rng.uniform(5, 35, rng.binomial(4, 0.35)):
        x = rng.uniform(street.left + 1, street.right - 1)
        add(1, z, _draw_rider, plane=cam.plane(x, z), motor=rng.random() < .4)
    for side in street.sides:
        parked = 60 if side.verge == IGNORE_INDEX else 0  # metres of cars
        for z in np.arange(rng.uniform(3, 10), parked, rng.uniform(5.5, 12)):
            add(1, z, _draw_vehicle, cam=cam, kind='car', x=side.x(1.05), z=z)
        for z in np.arange(rng.uniform(4, 12), 0.8 * street.far,
                           rng.uniform(8, 22)):
            add(1, z, _draw_pole,
                plane=cam.plane(side.x(side.verge_width + 0.35), z))
        for z in rng.uniform(3.5, 45, rng.poisson(1.8)):  # pedestrians
            x = side.x(side.verge_width + side.sidewalk_width *
                       rng.uniform(0.15, 0.85))
            step = rng.uniform(0, 0.25)
            add(1, z, _draw_person, plane=cam.plane(x, z),
                hips=(0, rng.uniform(0.8, 1.0)), feet=[(-step, 0), (step, 0)])
    return items


def draw_scene(rng: np.random.Generator, height: int, width: int) -> tuple:
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
    canvas = _Canvas(rng, height, width)
    cam, street = _random_layout(rng, height, width)
    _draw_ground(canvas, cam, street)
    x = -cam.cx * street.far / cam.focal - 5
    while x < (width - cam.cx) * street.far / cam.focal + 5:  # skyline
        length = rng.uniform(8, 30)
        _draw_facade(canvas, cam.plane(x, street.far), length,
                     rng.uniform(4, 28))
        x += length
    items = _scene_items(rng, cam, street)
    for _, _, draw in sorted(items, key=lambda item: (item[0], -item[1])):
        draw(canvas)  # painter's algorithm: far to near within a layer
    if rng.random() < 0.35:  # the bonnet of the recording car: ignored
        hood = canvas.add(IGNORE_INDEX, _PAINT, (1, 0), blotch=2, grain=2)
        ellipse = _disc(0, 0, 1, 32) * (0.75, rng.uniform(0.04, 0.1))
        canvas.fill(hood, [(ellipse + (0.5, 1)) * (width, height)])
    return canvas.render()


# ------------------------------------------------------ writing a dataset
def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of image ``index`` of ``split`` (``'train'``, ``'val'``):
    one stream per image, so that it does not depend on how many are made."""
    return np.random.default_rng([seed, SPLITS.index(split), index])


def iter_samples(root: str | os.PathLike, split: str) -> Iterator[tuple]:
    """Yield ``(image_path, label_path)`` of a split of ``root``, sorted."""
    for img in sorted(Path(root, 'leftImg8bit', split).glob('*/*' + IMG)):
        yield img, Path(root, 'gtFine', split, img.parent.name,
                        img.name.replace(IMG, SEG_MAP))


def generate_demo_dataset(out_dir: str | os.PathLike = 'data/demo_cityscapes',
                          num_train: int = 40,
                          num_val: int = 10,
                          size: Sequence[int] = (256, 512),
                          seed: int = 0,
                          cities: Sequence[str] = ('aachen', 'bremen',
                                                   'zurich'),
                          overwrite: bool = False) -> dict:
    """Write a Cityscapes-format dataset of procedurally drawn streets.

    Files are ``{leftImg8bit,gtFine}/<split>/<city>/<city>_<seq:06d>_000019``
    ``{_leftImg8bit,_gtFine_labelTrainIds}.png`` (labels: train ids, 255
    ignored), the cities taking turns. The same arguments give identical
    bytes; image ``i`` of a split does not depend on how many are made. The
    dataset is written into a temporary sibling of ``out_dir`` and renamed
    into place, so a failed run leaves no partial dataset (nor harms an
    earlier one).

    Args:
        out_dir (str | PathLike): Dataset root: new, empty or an earlier demo
            dataset (replaced); anything else needs ``overwrite``.
            Default: ``'data/demo_cityscapes'``.
        num_train (int): Training images. Default: 40.
        num_val (int): Validation images. Default: 10.
        size (Sequence[int]): Image ``(height, width)``, each at least
            ``MIN_SIDE``. Default: ``(256, 512)``.
        seed (int): Non-negative seed. Default: 0.
        cities (Sequence[str]): Distinct names of lower-case letters, digits
            and ``-``. Default: ``('aachen', 'bremen', 'zurich')``.
        overwrite (bool): Replace ``out_dir`` even if it is not a demo
            dataset. Default: False.

    Returns:
        dict: What ``MARKER_FILE`` records: the options, ``classes`` and
        ``class_pixels`` (pixels of each train id, then of 255).
    """
    _check_options(num_train, num_val, size, seed, cities)
    target = Path(os.path.abspath(out_dir))  # so '.' has a name and parent
    marker = target / MARKER_FILE  # a demo dataset may be replaced
    if target.exists() and not target.is_dir():
        raise FileExistsError(f'out_dir must be a directory, but {target} '
                              f'is a file')
    if (target.is_dir() and any(target.iterdir()) and not overwrite and not (
            marker.is_file() and GENERATOR in marker.read_text())):
        raise FileExistsError(
            f'out_dir {target} is not empty and holds no {MARKER_FILE}, so '
            f'it is not an earlier demo dataset; pass overwrite=True '
            f'(--overwrite) to replace it')
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f'.{target.name}.partial-',
                                    dir=target.parent))
    old = Path(f'{staging}-old')  # the earlier dataset, while swapping
    counts = np.zeros(256, np.int64)
    try:
        for split, num in zip(SPLITS, (num_train, num_val)):
            for i in range(num):
                city, (image, label) = cities[i % len(cities)], draw_scene(
                    image_rng(seed, split, i), *size)
                stem = f'{city}_{i // len(cities):06d}_000019'  # frame 19
                for folder, array in ((f'leftImg8bit/{split}', image),
                                      (f'gtFine/{split}', label)):
                    path = staging / folder / city / (stem + (
                        SEG_MAP if array is label else IMG))
                    path.parent.mkdir(parents=True, exist_ok=True)
                    # Fixed settings make the bytes a function of the pixels.
                    if not cv2.imwrite(str(path), array,
                                       [cv2.IMWRITE_PNG_COMPRESSION, 1]):
                        raise OSError(f'OpenCV could not write {path}')
                counts += np.bincount(label.ravel(), minlength=256)
        meta = dict(generator=GENERATOR, num_train=num_train,
                    num_val=num_val, size=list(size), seed=seed,
                    cities=list(cities), classes=list(CLASSES),
                    class_pixels=[*counts[:len(CLASSES)].tolist(),
                                  int(counts[IGNORE_INDEX])])
        (staging / MARKER_FILE).write_text(json.dumps(meta, indent=2) + '\n')
        if target.exists():
            os.rename(target, old)
        os.rename(staging, target)
    except BaseException:  # KeyboardInterrupt too
        shutil.rmtree(staging, ignore_errors=True)
        if old.exists() and not target.exists():
            os.rename(old, target)  # put the earlier dataset back
        raise
    shutil.rmtree(old, ignore_errors=True)
    return meta


def _check_options(num_train, num_val, size, seed, cities) -> None:
    for name, value, low in (('num_train', num_train, 1),
                             ('num_val', num_val, 1), ('seed', seed, 0)):
        if type(value) is not int or value < low:  # bool is no count here
            raise ValueError(f'{name} must be an integer of at least {low}, '
                             f'got {value!r}')
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(
            type(s) is int and s >= MIN_SIDE for s in size)):
        raise ValueError(f'size must be (height, width), two integers of at '
                         f'least {MIN_SIDE}, got {size!r}')
    if not (isinstance(cities, (tuple, list)) and cities
            and len(set(cities)) == len(cities) and all(
                re.fullmatch(r'[a-z0-9][a-z0-9-]*', str(c)) for c in cities)):
        raise ValueError(f'cities must be distinct names of a-z, 0-9 and '
                         f'"-" ("_" splits file names), got {cities!r}')

