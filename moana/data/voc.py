"""PASCAL VOC 2012 for weakly supervised semantic segmentation, in the layout IRN expects
(Ahn, Cho & Kwak, CVPR 2019), used for MoANA's WSSS experiments.

``<root>/JPEGImages/<id>.jpg``, ``<root>/SegmentationClass/<id>.png`` (palette PNGs, 255 =
ignore), ``ImageSets/Segmentation/{train,val}.txt``, a ``train_aug.txt`` list and image-level
labels in ``cls_labels.npy``: a pickled dict from the id to a 20-dim multi-hot vector. IRN keys
are integers with the underscore removed (``2007_000032`` -> ``2007000032``); this module
accepts both and returns string ids.

The file helpers here import neither torch nor torchvision (``moana data check`` and ``moana
data synth`` use them); the torch datasets :class:`VOCClassification`, :class:`VOCSegmentation`
and :func:`default_transform` live in :mod:`moana.data.voc_datasets` and are importable from
here, loaded on first access.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from moana._lazy import lazy_exports
from moana.data.metadata import MetadataError
from moana.data.text import text_lines
from moana.io import atomic_save_npy

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
IGNORE_INDEX = 255
IMAGE_DIR = "JPEGImages"
LABEL_DIR = "SegmentationClass"
LIST_DIR = Path("ImageSets") / "Segmentation"


def voc_palette() -> list[int]:
    """The 256-colour VOC palette (flat RGB list) used by SegmentationClass PNGs."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


def id_to_int(image_id: str) -> int:
    """IRN's integer key: ``2007_000032`` -> ``2007000032``."""
    return int(image_id.replace("_", ""))


def int_to_id(key: int) -> str:
    """Back from IRN's integer key to the VOC id (``YYYY_NNNNNN``)."""
    text = f"{int(key):010d}"
    return f"{text[:4]}_{text[4:]}"


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def id_from_token(token: str) -> str:
    """The image id in one list token, taken verbatim except for two known decorations.

    Only a path prefix (up to the last ``/`` or ``\\``, as in SBD's ``/JPEGImages/x.jpg``) and
    an image suffix ``.jpg``, ``.jpeg`` or ``.png`` (any case) are removed; every other dot stays
    part of the id (``field.photo-7`` and ``x.1`` are ids, not names with extensions).
    """
    name = token.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = name.rpartition(".")
    if dot and stem and f".{suffix.lower()}" in IMAGE_SUFFIXES:
        return stem
    return name


def read_id_lines(path: Path | str, errors: list[MetadataError] | None = None
                  ) -> list[tuple[int, str]]:
    """``(line number, id)`` of each id in a list (see :func:`read_id_list`); with an ``errors``
    list, duplicated ids are appended to it and skipped instead of raised (``moana data check``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image list {path} does not exist")
    ids: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for number, line in text_lines(path):
        token = id_from_token(line.split()[0])
        problem = (f"no image id in {line!r}" if not token else
                   f"duplicated id {token!r} (first on line {seen[token]})" if token in seen
                   else None)
        if problem is not None:
            if errors is None:
                raise MetadataError(path, number, problem)
            errors.append(MetadataError(path, number, problem))
            continue
        seen[token] = number
        ids.append((number, token))
    return ids


def read_id_list(path: Path | str) -> list[str]:
    """Image ids, one per line (kept as strings: NumPy cannot parse ``2007_000032`` as an int).

    IRN's lists hold bare ids; of VOC-style ``id label`` lines and SBD's ``/JPEGImages/x.jpg
    /SegmentationClassAug/x.png`` lines the first token is kept, reduced by
    :func:`id_from_token` (path prefix and .jpg/.jpeg/.png suffix removed; the id is otherwise
    verbatim). UTF-8 with or without BOM, any line ends. Raises FileNotFoundError, or
    :class:`MetadataError` (file:line) for a duplicated id or a file that is not UTF-8.
    """
    return [image_id for _, image_id in read_id_lines(path)]


def load_cls_labels(path: Path | str) -> dict[str, np.ndarray]:
    """Image-level labels ``{id: float32 multi-hot (20,)}`` from a cls_labels.npy (either key kind)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class labels {path} do not exist")
    try:
        raw = np.load(path, allow_pickle=True).item()
    except (ValueError, OSError, AttributeError, EOFError, pickle.UnpicklingError) as err:
        raise MetadataError(path, None, f"not a pickled dict saved with np.save: {err}") from err
    if not isinstance(raw, Mapping):
        raise MetadataError(path, None, f"expected a dict, got {type(raw).__name__}")
    labels: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        image_id = int_to_id(key) if isinstance(key, (int, np.integer)) else str(key)
        try:
            vector = np.asarray(value, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError):
            raise MetadataError(path, None, f"label of {image_id!r} is {value!r}; expected a "
                                "multi-hot vector of 0 and 1") from None
        if vector.shape != (len(VOC_CLASSES),):
            raise MetadataError(path, None, f"label of {image_id!r} has shape {vector.shape}, "
                                f"expected ({len(VOC_CLASSES)},)")
        if not np.isin(vector, (0.0, 1.0)).all():
            raise MetadataError(path, None, f"label of {image_id!r} holds {vector.tolist()}; "
                                "expected a multi-hot vector of 0 and 1")
        labels[image_id] = vector
    return labels


def save_cls_labels(path: Path | str, labels: Mapping[str, np.ndarray], *,
                    int_keys: bool = True) -> None:
    """Write cls_labels.npy atomically (IRN's integer keys by default)."""
    path = Path(path)
    data = {(id_to_int(k) if int_keys else k): np.asarray(v, dtype=np.float32)
            for k, v in labels.items()}
    atomic_save_npy(path, data, allow_pickle=True)


def labels_from_segmentation(label_map: np.ndarray) -> np.ndarray:
    """Multi-hot (20,) of the classes present in a VOC label map (ignores 0 and 255)."""
    present = np.unique(label_map)
    vector = np.zeros(len(VOC_CLASSES), dtype=np.float32)
    present = present[(present >= 1) & (present <= len(VOC_CLASSES))]
    vector[present - 1] = 1
    return vector


def check_label_values(label: np.ndarray, path: Path | str) -> None:
    """Raise ValueError naming ``path`` when a label map holds a value that is not a VOC class
    index (0 = background, 1..20) or 255 (ignore)."""
    values = np.unique(label)
    bad = values[(values > len(VOC_CLASSES)) & (values != IGNORE_INDEX)]
    if bad.size:
        raise ValueError(f"label map {path} holds values {bad.tolist()[:10]} that are not VOC "
                         f"classes (expected 0..{len(VOC_CLASSES)} and {IGNORE_INDEX} = ignore)")


def load_label_map(path: Path) -> np.ndarray:
    """A SegmentationClass PNG as class indices (palette indices, 255 = ignore), uint8 (H, W).

    Raises FileNotFoundError (missing) or ValueError naming the file (corrupt, not a palette or
    grayscale PNG, or holding values outside 0..20 and 255).
    """
    if not path.is_file():
        raise FileNotFoundError(f"label map {path} is missing")
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise ValueError(f"label map {path} is mode {image.mode}, expected a palette "
                                 "(P) or grayscale (L) PNG of class indices")
            label = np.array(image, dtype=np.uint8)
    except (OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise ValueError(f"label map {path} is corrupt or not an image: {err}") from err
    check_label_values(label, path)
    return label


def image_path(root: Path, image_id: str) -> Path:
    """``JPEGImages/<id>.jpg`` (VOC), or ``<id>.png`` when only that exists (synthetic data)."""
    jpg = root / IMAGE_DIR / f"{image_id}.jpg"
    if jpg.is_file():
        return jpg
    png = jpg.with_suffix(".png")
    return png if png.is_file() else jpg


_EXPORTS = {name: "moana.data.voc_datasets"
            for name in ("VOCClassification", "VOCSegmentation", "default_transform")}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
