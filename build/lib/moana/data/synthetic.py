"""A synthetic part-versus-whole benchmark for MoANA (Sohn et al., Sci. Rep. 2023).

MoANA's claim is that axis-based attention spreads a CAM from the discriminative part of an
object to the whole object. Here every object is a large smooth *body* whose colour and
texture come from one distribution shared by all classes (non-discriminative) plus a small
class-specific *mark* (a saturated shape x colour combination, a few percent of the body) at a
random place inside it, like a bird's head. The class is decided by the mark alone, but the
ground truth is the whole object, so a vanilla CAM that fires on the mark classifies well and
localizes badly. Clutter on the background never contains marks.

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
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from moana.data.voc import VOC_CLASSES, save_cls_labels, voc_palette
from moana.io import atomic_write_bytes

SPLITS = ("train", "val", "test")
#: Saturated mark colours (RGB); bodies and clutter are desaturated, so these never occur there.
MARK_COLORS = (
    (255, 0, 0), (0, 210, 0), (0, 90, 255), (255, 235, 0), (255, 0, 255),
    (0, 235, 235), (255, 130, 0), (150, 0, 255), (255, 255, 255), (0, 0, 0),
)
MARK_SHAPES = ("disk", "square", "triangle", "cross", "ring")


def mark_of_class(label: int) -> tuple[str, tuple[int, int, int]]:
    """The (shape, colour) of a class: distinct for up to len(colors) x len(shapes) classes."""
    color = MARK_COLORS[label % len(MARK_COLORS)]
    shape = MARK_SHAPES[(label + 2 * (label // len(MARK_COLORS))) % len(MARK_SHAPES)]
    return shape, color


@dataclass
class ObjectConfig:
    """Knobs shared by both kinds (fractions are of areas)."""

    body_fraction: tuple[float, float] = (0.10, 0.50)   # body area / image area
    mark_fraction: tuple[float, float] = (0.04, 0.08)   # mark area / body area
    body_roughness: float = 0.25                        # amplitude of the body's outline waves
    clutter: int = 6                                    # clutter strokes per 64x64 pixels
    noise: float = 0.04                                 # pixel noise (std, on 0..1 values)


@dataclass
class SyntheticWSOL:
    """Where a synthetic WSOL dataset lives: images under ``data_root`` (also the mask root)."""

    data_root: Path
    metadata_root: Path
    num_classes: int
    image_size: int
    config: dict = field(default_factory=dict)

    def split_dir(self, split: str) -> Path:
        return self.metadata_root / split


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


def _background(rng: np.random.Generator, h: int, w: int, cfg: ObjectConfig) -> np.ndarray:
    base = _desaturated_color(rng, val=(0.35, 0.75))
    tint = _smooth_field(rng, h, w, 4, 3) - 0.5
    image = base + 0.25 * tint * np.array([1, 1, 1], np.float32)
    gray = image.mean(axis=2, keepdims=True)  # keep the background desaturated
    image = gray + 0.4 * (image - gray)
    image += 0.12 * (_smooth_field(rng, h, w, max(4, w // 6), 1) - 0.5)
    n = rng.poisson(cfg.clutter * h * w / 4096)
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


def _body_mask(rng: np.random.Generator, h: int, w: int, area: float, roughness: float
               ) -> np.ndarray:
    """A smooth star-shaped blob of about ``area`` pixels, fully inside the image if possible."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    harmonics = np.arange(2, 6)
    amp = rng.uniform(0, roughness, len(harmonics)) / harmonics ** 0.5
    phase = rng.uniform(0, 2 * np.pi, len(harmonics))
    aspect = rng.uniform(0.6, 1.0)
    angle = rng.uniform(0, np.pi)
    radius = np.sqrt(area / np.pi)
    center: tuple[float, float] | None = None
    for _ in range(3):  # recentre so the blob fits, then rescale to the target area
        r_max = radius * (1 + amp.sum()) / np.sqrt(aspect)
        if center is None:
            lo_x, hi_x = min(r_max, w / 2), max(w - r_max, w / 2)
            lo_y, hi_y = min(r_max, h / 2), max(h - r_max, h / 2)
            cx, cy = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)
        else:
            cx, cy = center
        dx, dy = xx - cx, yy - cy
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = (-dx * np.sin(angle) + dy * np.cos(angle)) / aspect
        theta = np.arctan2(v, u)
        rho = np.hypot(u, v)
        wave = 1 + (amp[:, None, None] * np.cos(harmonics[:, None, None] * theta + phase[:, None, None])).sum(0)
        mask = rho < radius * np.sqrt(aspect) * wave
        got = int(mask.sum())
        if got == 0 or abs(got - area) / area < 0.1:
            break
        radius *= np.sqrt(area / got)
        center = (cx, cy)
    return mask


def _body_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Texture shared by every class: a desaturated base colour, stripes and blotches."""
    base = _desaturated_color(rng, sat=(0.05, 0.35), val=(0.35, 0.85))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(3, 9)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    blotch = _smooth_field(rng, h, w, 5, 1)[..., 0] - 0.5
    shade = 1 + rng.uniform(0.05, 0.2) * stripes + 0.3 * blotch
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


def _draw_object(rng: np.random.Generator, image: np.ndarray, label: int, cfg: ObjectConfig,
                 body_area: float, avoid: np.ndarray | None = None, tries: int = 8
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Paint one object in place; returns (object mask, mark mask).

    With ``avoid`` (pixels of earlier objects) the body is drawn ``tries`` times and the one
    overlapping least is kept; the mark is placed off the avoided pixels.
    """
    h, w = image.shape[:2]
    body = _body_mask(rng, h, w, body_area, cfg.body_roughness)
    if avoid is not None and avoid.any():
        for _ in range(tries - 1):
            if (body & avoid).sum() <= 0.05 * body.sum():
                break
            other = _body_mask(rng, h, w, body_area, cfg.body_roughness)
            if (other & avoid).sum() < (body & avoid).sum():
                body = other
    image[body] = _body_texture(rng, h, w)[body]
    shape, color = mark_of_class(label)
    mark_area = rng.uniform(*cfg.mark_fraction) * max(int(body.sum()), 1)
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
    image[mark] = np.array(color, np.float32) / 255 * shade
    return body | mark, mark


def _finish(rng: np.random.Generator, image: np.ndarray, cfg: ObjectConfig) -> np.ndarray:
    image = image + rng.normal(0, cfg.noise, image.shape).astype(np.float32)
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# writing


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
    image.putpalette(voc_palette())
    buf = BytesIO()
    image.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def _write_lines(path: Path, lines: list[str]) -> None:
    """wsolevaluation style: one record a line, no trailing newline."""
    atomic_write_bytes(path, "\n".join(lines).encode("utf-8"))


def _check_fraction(name: str, value: tuple[float, float], high: float = 1.0) -> None:
    lo, hi = value
    if not 0 < lo <= hi <= high:
        raise ValueError(f"{name} must satisfy 0 < low <= high <= {high}, got {value}")


def make_wsol_dataset(
    out_dir: Path | str, *, seed: int = 0, num_classes: int = 10, image_size: int = 64,
    per_class: dict[str, int] | None = None,
    body_fraction: tuple[float, float] = (0.10, 0.50),
    mark_fraction: tuple[float, float] = (0.04, 0.08),
    body_roughness: float = 0.25, clutter: int = 6, noise: float = 0.04,
) -> SyntheticWSOL:
    """Write a synthetic WSOL dataset in the wsolevaluation layout and return its paths.

    ``per_class`` gives images per class per split (default train 60, val 5, test 20).
    ``body_fraction`` is the object's share of the image, ``mark_fraction`` the mark's share
    of the object, ``clutter`` the number of clutter strokes per 64x64 pixels.
    """
    counts = {"train": 60, "val": 5, "test": 20}
    counts.update(per_class or {})
    if set(counts) - set(SPLITS):
        raise ValueError(f"per_class keys must be among {SPLITS}, got {sorted(counts)}")
    if not 1 <= num_classes <= len(MARK_COLORS) * len(MARK_SHAPES):
        raise ValueError(f"num_classes must be in [1, {len(MARK_COLORS) * len(MARK_SHAPES)}]")
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16, got {image_size}")
    _check_fraction("body_fraction", body_fraction, 0.9)
    _check_fraction("mark_fraction", mark_fraction, 0.5)
    cfg = ObjectConfig(body_fraction, mark_fraction, body_roughness, clutter, noise)
    out = Path(out_dir)
    data_root, metadata_root = out / "images", out / "metadata"
    for split_index, split in enumerate(SPLITS):
        ids, labels, sizes, boxes, masks = [], [], [], [], []
        for label in range(num_classes):
            for index in range(counts.get(split, 0)):
                rng = np.random.default_rng([seed, split_index, label, index])
                image = _background(rng, image_size, image_size, cfg)
                area = rng.uniform(*cfg.body_fraction) * image_size ** 2
                obj, _ = _draw_object(rng, image, label, cfg, area)
                image_id = f"{split}/{label:03d}/{split}_{label:03d}_{index:05d}.png"
                mask_id = image_id[:-4] + "_mask.png"
                _write_png(data_root / image_id, _finish(rng, image, cfg))
                _write_png(data_root / mask_id, obj.astype(np.uint8) * 255)
                ys, xs = np.nonzero(obj)
                ids.append(image_id)
                labels.append(f"{image_id},{label}")
                sizes.append(f"{image_id},{image_size},{image_size}")
                boxes.append(f"{image_id},{xs.min()},{ys.min()},{xs.max() + 1},{ys.max() + 1}")
                masks.append(f"{image_id},{mask_id},")
        split_dir = metadata_root / split
        _write_lines(split_dir / "image_ids.txt", ids)
        _write_lines(split_dir / "class_labels.txt", labels)
        _write_lines(split_dir / "image_sizes.txt", sizes)
        _write_lines(split_dir / "localization.txt", boxes)
        _write_lines(split_dir / "mask_localization.txt", masks)
    config = {"kind": "wsol", "seed": seed, "num_classes": num_classes,
              "image_size": image_size, "per_class": counts, **asdict(cfg),
              "marks": [list(mark_of_class(k)) for k in range(num_classes)]}
    atomic_write_bytes(out / "synthetic.json", json.dumps(config, indent=2).encode())
    return SyntheticWSOL(data_root, metadata_root, num_classes, image_size, config)


def make_voc_dataset(
    out_dir: Path | str, *, seed: int = 0, image_size: tuple[int, int] | int = (64, 96),
    num_train: int = 300, num_val: int = 100, num_classes: int = 20,
    objects: tuple[int, int] = (1, 3),
    body_fraction: tuple[float, float] = (0.06, 0.25),
    mark_fraction: tuple[float, float] = (0.04, 0.08),
    body_roughness: float = 0.25, clutter: int = 4, noise: float = 0.04, border: int = 1,
) -> Path:
    """Write a synthetic VOC2012-like tree (IRN layout) and return its root.

    Image sides are drawn from ``image_size`` (low, high); each image holds ``objects`` (low,
    high) objects of distinct classes among the first ``num_classes`` VOC classes; label PNGs
    get ``border`` pixels of 255 around every object, as VOC does.
    """
    lo_size, hi_size = (image_size, image_size) if isinstance(image_size, int) else image_size
    if not 16 <= lo_size <= hi_size:
        raise ValueError(f"image_size must be 16 <= low <= high, got {image_size}")
    if not 1 <= num_classes <= len(VOC_CLASSES):
        raise ValueError(f"num_classes must be in [1, {len(VOC_CLASSES)}], got {num_classes}")
    if not 1 <= objects[0] <= objects[1] <= num_classes:
        raise ValueError(f"objects must satisfy 1 <= low <= high <= num_classes, got {objects}")
    _check_fraction("body_fraction", body_fraction, 0.9)
    _check_fraction("mark_fraction", mark_fraction, 0.5)
    cfg = ObjectConfig(body_fraction, mark_fraction, body_roughness, clutter, noise)
    root = Path(out_dir)
    lists: dict[str, list[str]] = {"train": [], "val": []}
    cls_labels: dict[str, np.ndarray] = {}
    kernel = np.ones((2 * border + 1, 2 * border + 1), np.uint8)
    for split_index, (split, count) in enumerate((("train", num_train), ("val", num_val))):
        for index in range(count):
            rng = np.random.default_rng([seed, 10 + split_index, index])
            h, w = (int(v) for v in rng.integers(lo_size, hi_size + 1, size=2))
            image = _background(rng, h, w, cfg)
            label_map = np.zeros((h, w), np.uint8)
            n = int(rng.integers(objects[0], objects[1] + 1))
            classes = rng.choice(num_classes, size=n, replace=False)
            for k in classes:
                area = rng.uniform(*cfg.body_fraction) * h * w
                obj, _ = _draw_object(rng, image, int(k), cfg, area, avoid=label_map > 0)
                label_map[obj] = k + 1
            present = np.unique(label_map)
            present = present[present > 0] - 1  # a fully covered object is not labelled
            if border > 0:  # 255 on a thin band where labels meet (object borders)
                edge = cv2.dilate(label_map, kernel) != cv2.erode(label_map, kernel)
                label_map[edge] = 255
            image_id = f"{2100 + split_index}_{index:06d}"
            _write_png(root / "JPEGImages" / f"{image_id}.png", _finish(rng, image, cfg))
            _write_palette_png(root / "SegmentationClass" / f"{image_id}.png", label_map)
            vector = np.zeros(len(VOC_CLASSES), np.float32)
            vector[present] = 1
            cls_labels[image_id] = vector
            lists[split].append(image_id)
    seg = root / "ImageSets" / "Segmentation"
    for split, ids in lists.items():
        atomic_write_bytes(seg / f"{split}.txt", ("\n".join(ids) + "\n").encode())
    atomic_write_bytes(root / "train_aug.txt", ("\n".join(lists["train"]) + "\n").encode())
    save_cls_labels(root / "cls_labels.npy", cls_labels)
    config = {"kind": "voc", "seed": seed, "image_size": [lo_size, hi_size],
              "num_train": num_train, "num_val": num_val, "num_classes": num_classes,
              "objects": list(objects), "border": border, **asdict(cfg),
              "marks": [list(mark_of_class(k)) for k in range(num_classes)]}
    atomic_write_bytes(root / "synthetic.json", json.dumps(config, indent=2).encode())
    return root
