"""A synthetic part-versus-whole benchmark for WSOL / WSSS methods such as MoANA (Sohn et al.,
Sci. Rep. 2023).

MoANA's claim is that axis-based attention spreads a CAM from the discriminative part of an
object to the whole object. Each object here is a smooth *body* plus a small class-specific
*mark* (a saturated shape x colour combination, a small part of the body, like a bird's head):

* the mark is strong class evidence (always the class's own, unless hidden, see below);
* the body is *weak* class evidence: its stripes run at the class's own orientation
  (:func:`class_orientation`, flip-safe) in a fraction ``body_evidence`` of the images and at a uniformly
  random orientation otherwise, so a classifier has a reason to look at it but the mark is
  the easier cue;
* background clutter (thin strokes, arcs, outlines) is neither;
* objects are off-centre, of varied size (``body_fraction`` of the image), aspect and rotation,
  and their brightness differs from the background under them by ``body_contrast`` (a clear
  boundary);
* ``mark_hidden`` is the *mark-hiding control*: that fraction of the **training** images has no
  mark (label kept) and, by default, a body at the class's orientation
  (``hidden_body_evidence``), like a bird whose head is covered, which forces a classifier to
  use the body; val / test are never changed;
* ``train_background`` (WSOL kind) adds one train-only class of object-free images (clutter
  only), so that no object class can be told by the *absence* of the other classes' marks (see
  :class:`WSOLSynthSpec`).

The ground truth is always the whole object (box and mask). The knobs are the fields of
:class:`WSOLSynthSpec` / :class:`VOCSynthSpec` (the same names in train / WSSS configs under
``data.synthetic`` and in ``moana data synth`` flags). The first version of the benchmark
(large near-central bodies without class evidence) is reached with
``body_fraction=(0.1, 0.5), body_aspect=(0.6, 1.0), body_evidence=0, body_contrast=0,
stripe_contrast=(0.05, 0.2), stripe_period=(3, 9), mark_fraction=(0.04, 0.08)``.

Two kinds are written in the real formats so that the same loaders read them:

* ``wsol``: wsolevaluation layout (Choe et al., CVPR 2020): ``images/<split>/<class>/*.png``,
  ``metadata/<split>/{image_ids,class_labels,image_sizes,localization}.txt`` (whole-object
  boxes) plus ``mask_localization.txt`` with object mask PNGs (OpenImages mask form, no ignore
  file) for PxAP.
* ``voc``: PASCAL VOC 2012 layout used by IRN: 1-3 objects per image, palette label PNGs with
  255 on a thin object border, ``ImageSets/Segmentation/{train,val}.txt``, ``train_aug.txt`` and
  ``cls_labels.npy``. Images are PNGs (``JPEGImages/<id>.png``; the VOC loaders accept both).

Each image is drawn from its own generator seeded with (seed, split, index), with vectorised
NumPy / OpenCV drawing, and every file is a PNG: the output is byte-identical for a seed.
"""

from __future__ import annotations

import colorsys
import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from moana.io import atomic_write_bytes

#: PASCAL VOC's 20 object classes (moana.data.voc.VOC_CLASSES; not imported here so that the
#: generator's knobs load without torch, for ``moana data --help``)
NUM_VOC_CLASSES = 20

SPLITS = ("train", "val", "test")
#: Saturated mark colours (RGB); bodies and clutter are desaturated, so these never occur there.
MARK_COLORS = (
    (255, 0, 0), (0, 210, 0), (0, 90, 255), (255, 235, 0), (255, 0, 255),
    (0, 235, 235), (255, 130, 0), (150, 0, 255), (255, 255, 255), (0, 0, 0),
)
MARK_SHAPES = ("disk", "square", "triangle", "cross", "ring")
MAX_CLASSES = len(MARK_COLORS) * len(MARK_SHAPES)


def mark_of_class(label: int) -> tuple[str, tuple[int, int, int]]:
    """The (shape, colour) of a class: distinct for up to len(colors) x len(shapes) classes."""
    color = MARK_COLORS[label % len(MARK_COLORS)]
    shape = MARK_SHAPES[(label + 2 * (label // len(MARK_COLORS))) % len(MARK_SHAPES)]
    return shape, color


def class_orientation(label: int, num_classes: int) -> float:
    """The stripe orientation (radians in [0, pi/2]) that is weak evidence for class ``label``.

    Orientations are spread over [0, pi/2] (``pi/2 * label / (num_classes - 1)``), not [0, pi):
    the training transform's horizontal flip turns an angle ``a`` into ``pi - a``, which for
    angles in (0, pi/2) lands in (pi/2, pi), where no class lives, so flipped images keep their
    class evidence (spread over [0, pi), classes ``k`` and ``num_classes - k`` become one).
    """
    if num_classes <= 1:
        return 0.0
    return float(np.pi / 2 * label / (num_classes - 1))


# --------------------------------------------------------------------------------------------
# the knobs


@dataclass(frozen=True)
class ObjectKnobs:
    """Knobs of the objects, shared by both kinds (fractions are of areas, sizes in pixels).

    body_fraction: (low, high) body area / image area.   body_aspect: (low, high) minor / major
    axis ratio of the body.   body_roughness: amplitude of the outline's waves.
    body_evidence: probability (0..1) that the body's stripes run at the class's orientation
    (else uniform random): how much class evidence the body carries (0 = none).
    body_contrast: least difference (0..1 value) between the body's and the background's mean
    brightness under it (0 = the old, often invisible, boundaries).
    stripe_contrast: (low, high) stripe amplitude (relative brightness).
    stripe_period: (low, high) stripe period in pixels.
    mark_fraction: (low, high) mark area / body area (the mark is at least 3x3 px).
    mark_hidden: fraction (0..1) of *training* images drawn without the mark (the control).
    hidden_body_evidence: probability (0..1) that the body of a hidden-mark image runs at the
    class's orientation (default 1: the class stays visible in the body; set to
    ``body_evidence`` it gives the first control's design, whose hidden-mark images with a
    random body carried no class evidence at all).
    clutter: clutter strokes per 64x64 pixels.   noise: pixel noise std (0..1 values).
    """

    seed: int = 0
    body_fraction: tuple[float, float] = (0.08, 0.30)
    body_aspect: tuple[float, float] = (0.4, 1.0)
    body_roughness: float = 0.25
    body_evidence: float = 0.7
    body_contrast: float = 0.15
    stripe_contrast: tuple[float, float] = (0.15, 0.30)
    stripe_period: tuple[float, float] = (3.0, 6.0)
    mark_fraction: tuple[float, float] = (0.04, 0.08)
    mark_hidden: float = 0.0
    hidden_body_evidence: float = 1.0
    clutter: int = 6
    noise: float = 0.04

    @classmethod
    def from_knobs(cls, **knobs: Any):
        """Build from keyword knobs (lists become tuples); unknown names raise ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(knobs) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} knob(s) {unknown}; known: {sorted(names)}")
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in knobs.items()}
        spec = cls(**fixed)
        spec.validate()
        return spec

    def validate(self) -> None:
        """Raise ValueError naming the first bad knob."""
        _check_range("body_fraction", self.body_fraction, 0.9)
        _check_range("body_aspect", self.body_aspect, 1.0)
        _check_range("mark_fraction", self.mark_fraction, 0.5)
        _check_range("stripe_contrast", self.stripe_contrast, 1.0, low_ok=0.0)
        _check_range("stripe_period", self.stripe_period, 1e9, low_ok=1.0)
        for name in ("body_evidence", "mark_hidden", "hidden_body_evidence", "body_contrast"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.clutter < 0 or self.noise < 0 or self.body_roughness < 0:
            raise ValueError("clutter, noise and body_roughness must be >= 0")

    def to_json(self) -> dict[str, Any]:
        """The knobs as a JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class WSOLSynthSpec(ObjectKnobs):
    """Knobs of ``make_wsol_dataset`` (see :class:`ObjectKnobs` for the object knobs).

    num_classes: 1..50.   image_size: square side in px (>= 16).   per_class: images per class
    per split (keys among train / val / test; missing keys take the default). The defaults are
    the smoke benchmark's (the ``smoke_cam`` config): 4 classes at 32 px, 100 / 50 / 50 images
    per class, so that a run trains in well under a minute on one CPU core; at that size the
    stripes are drawn with more contrast (0.35-0.5) and the mark is 8-15% of the body (a 4-6 px
    shape), else a small CNN trained for 6 epochs learns neither the stripes (top-1 at chance
    with every mark hidden) nor some marks.

    train_background: size (>= 0) of a train-only *background class*, relative to a class's train
    images: ``round(train_background * per_class["train"])`` object-free images (background and
    clutter only) labelled ``num_classes``, so a classifier trained on them has
    ``num_classes + 1`` outputs; val / test keep the object classes only. Without it (0) a
    small CNN learns one class from the *absence* of the other marks, with a CAM on the
    background, and which class (if any) depends on the seed and the schedule: CAM
    MaxBoxAccV2 56.5 / 60.0 / 67.3 / 57.5 / 63.7 (seeds 0-4, 16 epochs) against 68.0-70.8 with
    the background class. The train split then has no ``localization.txt`` /
    ``mask_localization.txt`` (weak supervision needs labels only; an object-free image has
    no box); object masks are still written.
    """

    stripe_contrast: tuple[float, float] = (0.35, 0.50)
    mark_fraction: tuple[float, float] = (0.08, 0.15)
    num_classes: int = 4
    image_size: int = 32
    per_class: dict[str, int] = field(
        default_factory=lambda: {"train": 100, "val": 50, "test": 50})
    train_background: float = 1.0

    def validate(self) -> None:
        """Raise ValueError (naming the knob) if a value is out of range: per_class keys outside
        train/val/test, num_classes outside [1, MAX_CLASSES], image_size below 16, or an object knob
        checked by :meth:`ObjectKnobs.validate`."""
        super().validate()
        if set(self.per_class) - set(SPLITS):
            raise ValueError(f"per_class keys must be among {SPLITS}, got {sorted(self.per_class)}")
        if not 1 <= self.num_classes <= MAX_CLASSES:
            raise ValueError(f"num_classes must be in [1, {MAX_CLASSES}], got {self.num_classes}")
        if self.image_size < 16:
            raise ValueError(f"image_size must be at least 16, got {self.image_size}")
        if self.train_background < 0:
            raise ValueError(f"train_background must be >= 0, got {self.train_background}")

    def background_count(self) -> int:
        """Object-free train images of the background class (label ``num_classes``)."""
        return int(round(self.train_background * self.counts().get("train", 0)))

    def counts(self) -> dict[str, int]:
        """Images per class for each split: the defaults updated with ``per_class``."""
        return {**WSOLSynthSpec.__dataclass_fields__["per_class"].default_factory(),
                **self.per_class}


@dataclass(frozen=True)
class VOCSynthSpec(ObjectKnobs):
    """Knobs of ``make_voc_dataset`` (see :class:`ObjectKnobs` for the object knobs).

    image_size: (low, high) side range in px (or one int).   num_train / num_val: images.
    num_classes: among the first VOC classes (1..20).   objects: (low, high) objects per image,
    of distinct classes.   border: width of the 255 band around objects in the label PNGs.
    """

    body_fraction: tuple[float, float] = (0.06, 0.25)
    clutter: int = 4
    image_size: tuple[int, int] | int = (64, 96)
    num_train: int = 300
    num_val: int = 100
    num_classes: int = 20
    objects: tuple[int, int] = (1, 3)
    border: int = 1

    def sides(self) -> tuple[int, int]:
        """``(low, high)`` image side in pixels (an int ``image_size`` gives equal sides)."""
        size = self.image_size
        return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))

    def validate(self) -> None:
        """Raise ValueError (naming the knob) if a value is out of range: image sides, num_classes
        outside [1, 20], objects per image outside [1, num_classes], negative counts or border."""
        super().validate()
        lo, hi = self.sides()
        if not 16 <= lo <= hi:
            raise ValueError(f"image_size must be 16 <= low <= high, got {self.image_size}")
        if not 1 <= self.num_classes <= NUM_VOC_CLASSES:
            raise ValueError(f"num_classes must be in [1, {NUM_VOC_CLASSES}], "
                             f"got {self.num_classes}")
        if not 1 <= self.objects[0] <= self.objects[1] <= self.num_classes:
            raise ValueError(f"objects must satisfy 1 <= low <= high <= num_classes, "
                             f"got {self.objects}")
        if self.num_train < 0 or self.num_val < 0 or self.border < 0:
            raise ValueError("num_train, num_val and border must be >= 0")


def _check_range(name: str, value: tuple[float, float], high: float, low_ok: float | None = None
                 ) -> None:
    if len(value) != 2:
        raise ValueError(f"{name} must be a (low, high) pair, got {value}")
    lo, hi = value
    ok = (low_ok <= lo if low_ok is not None else 0 < lo) and lo <= hi <= high
    if not ok:
        bound = f"{low_ok} <=" if low_ok is not None else "0 <"
        raise ValueError(f"{name} must satisfy {bound} low <= high <= {high}, got {value}")


# --------------------------------------------------------------------------------------------
# drawing


def _desaturated_color(rng: np.random.Generator, sat: tuple[float, float] = (0.0, 0.3),
                       val: tuple[float, float] = (0.3, 0.8)) -> np.ndarray:
    h = rng.random()
    s = rng.uniform(*sat)
    v = rng.uniform(*val)
    return np.array(colorsys.hsv_to_rgb(h, s, v), dtype=np.float32)


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int, channels: int
                  ) -> np.ndarray:
    """A smooth random field in [0, 1] (bicubic upsampling of a coarse grid)."""
    coarse = rng.random((cells, cells, channels)).astype(np.float32)
    out = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(out.reshape(h, w, channels), 0, 1)


def _background(rng: np.random.Generator, h: int, w: int, spec: ObjectKnobs) -> np.ndarray:
    base = _desaturated_color(rng, val=(0.35, 0.75))
    tint = _smooth_field(rng, h, w, 4, 3) - 0.5
    image = base + 0.25 * tint * np.array([1, 1, 1], np.float32)
    gray = image.mean(axis=2, keepdims=True)  # keep the background desaturated
    image = gray + 0.4 * (image - gray)
    image += 0.12 * (_smooth_field(rng, h, w, max(4, w // 6), 1) - 0.5)
    n = rng.poisson(spec.clutter * h * w / 4096)
    for _ in range(n):  # clutter: thin strokes, arcs and outlines, never a filled mark shape
        color = tuple(float(c) for c in _desaturated_color(rng, val=(0.2, 0.9)))
        kind = rng.integers(3)
        p = rng.integers(0, [w, h, w, h])
        if kind == 0:
            cv2.line(image, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), color, 1, cv2.LINE_AA)
        elif kind == 1:
            axes = (int(rng.integers(3, max(4, w // 4))), int(rng.integers(3, max(4, h // 4))))
            cv2.ellipse(image, (int(p[0]), int(p[1])), axes, float(rng.uniform(0, 180)),
                        0, float(rng.uniform(90, 360)), color, 1, cv2.LINE_AA)
        else:
            cv2.rectangle(image, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), color, 1)
    return image


def _body_mask(rng: np.random.Generator, h: int, w: int, area: float, roughness: float,
               aspect_range: tuple[float, float]) -> np.ndarray:
    """A smooth, rotated star-shaped blob of about ``area`` pixels, inside the image if possible.

    Its centre is uniform over the positions where it fits, so small objects are off-centre.
    """
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    harmonics = np.arange(2, 6)
    amp = rng.uniform(0, roughness, len(harmonics)) / harmonics ** 0.5
    phase = rng.uniform(0, 2 * np.pi, len(harmonics))
    aspect = rng.uniform(*aspect_range)
    angle = rng.uniform(0, np.pi)
    radius = np.sqrt(area / np.pi)
    center: tuple[float, float] | None = None
    mask = np.zeros((h, w), bool)
    t = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    for _ in range(3):  # place where the outline fits, then rescale to the target area
        if center is None:
            r = radius * np.sqrt(aspect) * (1 + (amp[:, None] * np.cos(harmonics[:, None] * t
                                                                       + phase[:, None])).sum(0))
            u, v = r * np.cos(t), r * np.sin(t) * aspect
            ox = u * np.cos(angle) - v * np.sin(angle)
            oy = u * np.sin(angle) + v * np.cos(angle)
            lo_x, hi_x = -ox.min(), w - 1 - ox.max()
            lo_y, hi_y = -oy.min(), h - 1 - oy.max()
            cx = rng.uniform(lo_x, hi_x) if lo_x <= hi_x else (lo_x + hi_x) / 2
            cy = rng.uniform(lo_y, hi_y) if lo_y <= hi_y else (lo_y + hi_y) / 2
        else:
            cx, cy = center
        dx, dy = xx - cx, yy - cy
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = (-dx * np.sin(angle) + dy * np.cos(angle)) / aspect
        theta = np.arctan2(v, u)
        rho = np.hypot(u, v)
        wave = 1 + (amp[:, None, None] * np.cos(harmonics[:, None, None] * theta
                                                 + phase[:, None, None])).sum(0)
        mask = rho < radius * np.sqrt(aspect) * wave
        got = int(mask.sum())
        if got == 0 or abs(got - area) / area < 0.1:
            break
        radius *= np.sqrt(area / got)
        center = (cx, cy)
    return mask


def _body_value(rng: np.random.Generator, background: float, contrast: float,
                value: tuple[float, float] = (0.3, 0.85)) -> float:
    """A brightness in ``value`` at least ``contrast`` away from ``background``."""
    lo, hi = value
    below = max(0.0, min(hi, background - contrast) - lo)
    above = max(0.0, hi - max(lo, background + contrast))
    if below + above <= 0:  # no room: the end farthest from the background
        return lo if background - lo > hi - background else hi
    u = rng.uniform(0, below + above)
    return lo + u if u < below else max(lo, background + contrast) + (u - below)


def _body_texture(rng: np.random.Generator, h: int, w: int, angle: float, value: float,
                  spec: ObjectKnobs) -> np.ndarray:
    """A desaturated base colour of brightness ``value``, stripes at ``angle``, blotches."""
    base = _desaturated_color(rng, sat=(0.05, 0.35), val=(1.0, 1.0)) * value
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(*spec.stripe_period)
    offset = rng.uniform(0, 2 * np.pi)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period + offset)
    blotch = _smooth_field(rng, h, w, 5, 1)[..., 0] - 0.5
    shade = 1 + rng.uniform(*spec.stripe_contrast) * stripes + 0.3 * blotch
    return np.clip(base[None, None, :] * shade[..., None], 0, 1)


def _mark_mask(shape: str, size: float, h: int, w: int, cx: int, cy: int) -> np.ndarray:
    """A filled mark of about size**2 pixels centred at (cx, cy)."""
    canvas = np.zeros((h, w), np.uint8)
    half = max(1.5, size / 2)
    if shape == "disk":
        cv2.circle(canvas, (cx, cy), max(1, round(size / np.sqrt(np.pi))), 1, -1)
    elif shape == "square":
        r = round(half)
        cv2.rectangle(canvas, (cx - r, cy - r), (cx + r - 1, cy + r - 1), 1, -1)
    elif shape == "triangle":
        r = half * 1.5
        pts = np.array([[cx, cy - r], [cx - r, cy + r * 0.7], [cx + r, cy + r * 0.7]])
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    elif shape == "cross":
        r, t = round(half * 1.3), max(1, round(half * 0.45))
        cv2.rectangle(canvas, (cx - r, cy - t), (cx + r, cy + t), 1, -1)
        cv2.rectangle(canvas, (cx - t, cy - r), (cx + t, cy + r), 1, -1)
    elif shape == "ring":
        r = max(2, round(half * 1.3))
        cv2.circle(canvas, (cx, cy), r, 1, max(1, round(r * 0.45)))
    else:
        raise ValueError(f"unknown mark shape {shape!r}; expected one of {MARK_SHAPES}")
    return canvas.astype(bool)


@dataclass(frozen=True)
class ObjectDraw:
    """What was drawn for one object: masks (H, W) bool, stripe angle, whether the stripes
    carry the class's orientation and whether the mark is shown."""

    mask: np.ndarray
    mark: np.ndarray
    angle: float
    body_matches: bool
    mark_shown: bool


def _draw_object(rng: np.random.Generator, image: np.ndarray, label: int, num_classes: int,
                 spec: ObjectKnobs, body_area: float, *, hide_mark_p: float = 0.0,
                 avoid: np.ndarray | None = None, tries: int = 8) -> ObjectDraw:
    """Paint one object in place (body, then the mark unless hidden).

    ``hide_mark_p``: probability of leaving the mark out (the training split's ``mark_hidden``).
    With ``avoid`` (pixels of earlier objects) the body is drawn ``tries`` times and the one
    overlapping least is kept; the mark is placed off the avoided pixels.
    """
    h, w = image.shape[:2]
    body = _body_mask(rng, h, w, body_area, spec.body_roughness, spec.body_aspect)
    if avoid is not None and avoid.any():
        for _ in range(tries - 1):
            if (body & avoid).sum() <= 0.05 * body.sum():
                break
            other = _body_mask(rng, h, w, body_area, spec.body_roughness, spec.body_aspect)
            if (other & avoid).sum() < (body & avoid).sum():
                body = other
    # hiding on: whether the mark is hidden is drawn first, so that a hidden-mark body can carry
    # the class (hidden_body_evidence); hiding off: the draws of the mark-on-every-image data
    hidden = hide_mark_p > 0 and bool(rng.random() < hide_mark_p)
    evidence = spec.hidden_body_evidence if hidden else spec.body_evidence
    matches = bool(rng.random() < evidence)
    angle = class_orientation(label, num_classes) if matches else float(rng.uniform(0, np.pi))
    under = float(image[body].mean()) if body.any() else 0.5
    value = _body_value(rng, under, spec.body_contrast)
    image[body] = _body_texture(rng, h, w, angle, value, spec)[body]
    if hide_mark_p <= 0:
        rng.random()  # the draw that once decided hiding, kept: the same images as before
    shown = not hidden
    shape, color = mark_of_class(label)
    mark_area = rng.uniform(*spec.mark_fraction) * max(int(body.sum()), 1)
    size = max(3.0, float(np.sqrt(mark_area)))
    free = body if avoid is None else body & ~avoid
    dist = cv2.distanceTransform(free.astype(np.uint8), cv2.DIST_L2, 3)
    inside = np.argwhere(dist >= size * 0.8)
    if len(inside) == 0:
        inside = (np.argwhere(dist >= dist.max() * 0.9) if dist.max() > 0
                  else np.array([[h // 2, w // 2]]))
    cy, cx = inside[rng.integers(len(inside))]
    mark = _mark_mask(shape, size, h, w, int(cx), int(cy))
    shade = rng.uniform(0.85, 1.0)
    if shown:
        image[mark] = np.array(color, np.float32) / 255 * shade
        return ObjectDraw(body | mark, mark, angle, matches, True)
    return ObjectDraw(body, np.zeros_like(mark), angle, matches, False)


def _finish(rng: np.random.Generator, image: np.ndarray, spec: ObjectKnobs) -> np.ndarray:
    image = image + rng.normal(0, spec.noise, image.shape).astype(np.float32)
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


def draw_wsol_image(spec: WSOLSynthSpec, split: str, label: int, index: int
                    ) -> tuple[np.ndarray, ObjectDraw]:
    """One WSOL image (H, W, 3) uint8 and what was drawn; the same for the same arguments."""
    split_index = SPLITS.index(split)
    rng = np.random.default_rng([spec.seed, split_index, label, index])
    size = spec.image_size
    image = _background(rng, size, size, spec)
    area = rng.uniform(*spec.body_fraction) * size ** 2
    hide = spec.mark_hidden if split == "train" else 0.0
    drawn = _draw_object(rng, image, label, spec.num_classes, spec, area, hide_mark_p=hide)
    return _finish(rng, image, spec), drawn


def draw_background_image(spec: WSOLSynthSpec, index: int) -> np.ndarray:
    """One object-free train image (H, W, 3) uint8 of the background class: the background
    and clutter of an object image, drawn from its own generator (seed, train, num_classes,
    index), as if ``num_classes`` were one more class."""
    rng = np.random.default_rng([spec.seed, SPLITS.index("train"), spec.num_classes, index])
    size = spec.image_size
    return _finish(rng, _background(rng, size, size, spec), spec)


# --------------------------------------------------------------------------------------------
# writing


@dataclass
class SyntheticWSOL:
    """Where a synthetic WSOL dataset lives: images under ``data_root`` (also the mask root)."""

    data_root: Path
    metadata_root: Path
    num_classes: int
    image_size: int
    config: dict = field(default_factory=dict)

    def split_dir(self, split: str) -> Path:
        """The wsolevaluation metadata folder of ``split`` (``train``, ``val`` or ``test``)."""
        return self.metadata_root / split


def _write_png(path: Path, array: np.ndarray) -> None:
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise OSError(f"could not encode {path}")
    atomic_write_bytes(path, buf.tobytes())


def _write_palette_png(path: Path, label: np.ndarray) -> None:
    from io import BytesIO

    from PIL import Image

    image = Image.fromarray(label.astype(np.uint8), mode="P")
    from moana.data.voc import voc_palette

    image.putpalette(voc_palette())
    buf = BytesIO()
    image.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def _write_lines(path: Path, lines: list[str]) -> None:
    """wsolevaluation style: one record a line, no trailing newline."""
    atomic_write_bytes(path, "\n".join(lines).encode("utf-8"))


def make_wsol_dataset(out_dir: Path | str, **knobs: Any) -> SyntheticWSOL:
    """Write a synthetic WSOL dataset in the wsolevaluation layout and return its paths.

    ``knobs`` are :class:`WSOLSynthSpec` fields (defaults: the smoke benchmark, 4 classes at
    32 px, 100 / 50 / 50 images per class for train / val / test and a train-only background
    class of 100 object-free images, label 4). Raises ValueError for an
    unknown or out-of-range knob. ``synthetic.json`` (written last) records every knob.
    """
    spec = WSOLSynthSpec.from_knobs(**knobs)
    counts = spec.counts()
    out = Path(out_dir)
    data_root, metadata_root = out / "images", out / "metadata"
    size = spec.image_size
    for split in SPLITS:
        ids, labels, sizes, boxes, masks = [], [], [], [], []
        for label in range(spec.num_classes):
            for index in range(counts.get(split, 0)):
                image, drawn = draw_wsol_image(spec, split, label, index)
                image_id = f"{split}/{label:03d}/{split}_{label:03d}_{index:05d}.png"
                mask_id = image_id[:-4] + "_mask.png"
                _write_png(data_root / image_id, image)
                _write_png(data_root / mask_id, drawn.mask.astype(np.uint8) * 255)
                ys, xs = np.nonzero(drawn.mask)
                ids.append(image_id)
                labels.append(f"{image_id},{label}")
                sizes.append(f"{image_id},{size},{size}")
                boxes.append(f"{image_id},{xs.min()},{ys.min()},{xs.max() + 1},{ys.max() + 1}")
                masks.append(f"{image_id},{mask_id},")
        background = spec.background_count() if split == "train" else 0
        for index in range(background):
            label = spec.num_classes
            image_id = f"{split}/{label:03d}/{split}_{label:03d}_{index:05d}.png"
            _write_png(data_root / image_id, draw_background_image(spec, index))
            ids.append(image_id)
            labels.append(f"{image_id},{label}")
            sizes.append(f"{image_id},{size},{size}")
        split_dir = metadata_root / split
        _write_lines(split_dir / "image_ids.txt", ids)
        _write_lines(split_dir / "class_labels.txt", labels)
        _write_lines(split_dir / "image_sizes.txt", sizes)
        if not background:  # an object-free image has no box (see WSOLSynthSpec)
            _write_lines(split_dir / "localization.txt", boxes)
            _write_lines(split_dir / "mask_localization.txt", masks)
    config = {"kind": "wsol", **spec.to_json(), "per_class": counts,
              "train_background_images": spec.background_count(),
              "marks": [list(mark_of_class(k)) for k in range(spec.num_classes)]}
    atomic_write_bytes(out / "synthetic.json", json.dumps(config, indent=2).encode())
    return SyntheticWSOL(data_root, metadata_root, spec.num_classes, size, config)


def draw_voc_image(spec: VOCSynthSpec, split: str, index: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[ObjectDraw]]:
    """One VOC image (H, W, 3) uint8, its label map (H, W) uint8 (0 = background, k + 1 =
    class k, 255 on object borders), the classes present (visible before the border is drawn;
    a fully covered object is not labelled) and what was drawn; ``split`` is train or val."""
    split_index = ("train", "val").index(split)
    rng = np.random.default_rng([spec.seed, 10 + split_index, index])
    lo_size, hi_size = spec.sides()
    h, w = (int(v) for v in rng.integers(lo_size, hi_size + 1, size=2))
    image = _background(rng, h, w, spec)
    label_map = np.zeros((h, w), np.uint8)
    n = int(rng.integers(spec.objects[0], spec.objects[1] + 1))
    classes = rng.choice(spec.num_classes, size=n, replace=False)
    hide = spec.mark_hidden if split == "train" else 0.0
    drawn = []
    for k in classes:
        area = rng.uniform(*spec.body_fraction) * h * w
        obj = _draw_object(rng, image, int(k), spec.num_classes, spec, area, hide_mark_p=hide,
                           avoid=label_map > 0)
        label_map[obj.mask] = k + 1
        drawn.append(obj)
    present = np.unique(label_map)
    present = present[present > 0] - 1
    if spec.border > 0:  # 255 on a thin band where labels meet (object borders)
        kernel = np.ones((2 * spec.border + 1, 2 * spec.border + 1), np.uint8)
        edge = cv2.dilate(label_map, kernel) != cv2.erode(label_map, kernel)
        label_map[edge] = 255
    return _finish(rng, image, spec), label_map, present, drawn


def make_voc_dataset(out_dir: Path | str, **knobs: Any) -> Path:
    """Write a synthetic VOC2012-like tree (IRN layout) and return its root.

    ``knobs`` are :class:`VOCSynthSpec` fields: image sides drawn from ``image_size`` (low,
    high); each image holds ``objects`` (low, high) objects of distinct classes among the first
    ``num_classes`` VOC classes; label PNGs get ``border`` pixels of 255 around every object,
    as VOC does. Raises ValueError for an unknown or out-of-range knob.
    """
    spec = VOCSynthSpec.from_knobs(**knobs)
    root = Path(out_dir)
    lists: dict[str, list[str]] = {"train": [], "val": []}
    cls_labels: dict[str, np.ndarray] = {}
    for split_index, (split, count) in enumerate((("train", spec.num_train),
                                                  ("val", spec.num_val))):
        for index in range(count):
            image, label_map, present, _ = draw_voc_image(spec, split, index)
            image_id = f"{2100 + split_index}_{index:06d}"
            _write_png(root / "JPEGImages" / f"{image_id}.png", image)
            _write_palette_png(root / "SegmentationClass" / f"{image_id}.png", label_map)
            vector = np.zeros(NUM_VOC_CLASSES, np.float32)
            vector[present] = 1
            cls_labels[image_id] = vector
            lists[split].append(image_id)
    seg = root / "ImageSets" / "Segmentation"
    for split, ids in lists.items():
        atomic_write_bytes(seg / f"{split}.txt", ("\n".join(ids) + "\n").encode())
    atomic_write_bytes(root / "train_aug.txt", ("\n".join(lists["train"]) + "\n").encode())
    from moana.data.voc import save_cls_labels

    save_cls_labels(root / "cls_labels.npy", cls_labels)
    config = voc_dataset_settings(**knobs)
    atomic_write_bytes(root / "synthetic.json", json.dumps(config, indent=2).encode())
    return root


def voc_dataset_settings(**knobs: Any) -> dict[str, Any]:
    """What :func:`make_voc_dataset` records in ``synthetic.json`` for ``knobs`` (JSON-ready),
    so an existing dataset can be compared with the knobs asked for."""
    spec = VOCSynthSpec.from_knobs(**knobs)
    lo, hi = spec.sides()
    return {"kind": "voc", **spec.to_json(), "image_size": [lo, hi],
            "marks": [list(mark_of_class(k)) for k in range(spec.num_classes)]}
