"""PASCAL VOC 2012 for weakly supervised semantic segmentation, in the layout IRN expects
(Ahn, Cho & Kwak, CVPR 2019), used for MoANA's WSSS experiments.

``<root>/JPEGImages/<id>.jpg``, ``<root>/SegmentationClass/<id>.png`` (palette PNGs, 255 =
ignore), ``ImageSets/Segmentation/{train,val}.txt``, a ``train_aug.txt`` list and image-level
labels in ``cls_labels.npy``: a pickled dict from the id to a 20-dim multi-hot vector. IRN keys
are integers with the underscore removed (``2007_000032`` -> ``2007000032``); this module
accepts both and returns string ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms as T

from moana.data.metadata import MetadataError
from moana.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from moana.data.wsol import load_image
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


def read_id_list(path: Path | str) -> list[str]:
    """Image ids, one per line (kept as strings: NumPy cannot parse ``2007_000032`` as an int).

    IRN's lists hold bare ids; VOC-style ``id label`` lines and ``/JPEGImages/x.jpg ...`` lines
    (train_aug of SBD) are reduced to the id.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image list {path} does not exist")
    ids: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        token = Path(line.split()[0]).stem
        if token in seen:
            raise MetadataError(path, number, f"duplicated id {token!r} (first on line {seen[token]})")
        seen[token] = number
        ids.append(token)
    return ids


def load_cls_labels(path: Path | str) -> dict[str, np.ndarray]:
    """Image-level labels ``{id: float32 multi-hot (20,)}`` from a cls_labels.npy (either key kind)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class labels {path} do not exist")
    try:
        raw = np.load(path, allow_pickle=True).item()
    except (ValueError, OSError, AttributeError) as err:
        raise MetadataError(path, None, f"not a pickled dict saved with np.save: {err}") from err
    if not isinstance(raw, Mapping):
        raise MetadataError(path, None, f"expected a dict, got {type(raw).__name__}")
    labels: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        image_id = int_to_id(key) if isinstance(key, (int, np.integer)) else str(key)
        vector = np.asarray(value, dtype=np.float32).reshape(-1)
        if vector.shape != (len(VOC_CLASSES),):
            raise MetadataError(path, None, f"label of {image_id!r} has shape {vector.shape}, "
                                f"expected ({len(VOC_CLASSES)},)")
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


def default_transform() -> Callable[[Image.Image], torch.Tensor]:
    return T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def cls_train_transform(crop_size: int = 512, resize_long: tuple[int, int] = (320, 640)
                        ) -> Callable[[Image.Image], torch.Tensor]:
    """IRN-like CAM training augmentation: random long-side resize, flip, colour, crop."""
    low, high = resize_long

    def resize(image: Image.Image) -> Image.Image:
        long = int(torch.randint(low, high + 1, ()).item())
        scale = long / max(image.size)
        size = (max(1, round(image.size[1] * scale)), max(1, round(image.size[0] * scale)))
        return T.functional.resize(image, list(size))

    return T.Compose([
        T.Lambda(resize), T.RandomHorizontalFlip(), T.ColorJitter(0.3, 0.3, 0.3, 0.1),
        T.RandomCrop(crop_size, pad_if_needed=True), T.ToTensor(),
        T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def load_label_map(path: Path) -> np.ndarray:
    """A SegmentationClass PNG as class indices (palette indices, 255 = ignore)."""
    if not path.is_file():
        raise FileNotFoundError(f"label map {path} is missing")
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise ValueError(f"label map {path} is mode {image.mode}, expected a palette "
                                 "(P) or grayscale (L) PNG of class indices")
            return np.array(image, dtype=np.uint8)
    except (OSError, SyntaxError) as err:
        raise ValueError(f"label map {path} is corrupt or not an image: {err}") from err


def image_path(root: Path, image_id: str) -> Path:
    """``JPEGImages/<id>.jpg`` (VOC), or ``<id>.png`` when only that exists (synthetic data)."""
    jpg = root / IMAGE_DIR / f"{image_id}.jpg"
    if jpg.is_file():
        return jpg
    png = jpg.with_suffix(".png")
    return png if png.is_file() else jpg


class VOCClassification(Dataset):
    """(image, multi-hot FloatTensor(20), id) for CAM training with image-level labels."""

    def __init__(self, root: Path | str, ids: Iterable[str] | Path | str,
                 cls_labels: Mapping[str, np.ndarray] | Path | str,
                 transform: Callable[[Image.Image], torch.Tensor] | None = None):
        self.root = Path(root)
        self.ids = read_id_list(ids) if isinstance(ids, (str, Path)) else list(ids)
        labels = (load_cls_labels(cls_labels) if isinstance(cls_labels, (str, Path))
                  else {(int_to_id(k) if isinstance(k, (int, np.integer)) else k): v
                        for k, v in cls_labels.items()})
        missing = [i for i in self.ids if i not in labels]
        if missing:
            raise ValueError(f"{len(missing)} image(s) have no class label, e.g. {missing[:3]}")
        self.labels = {i: torch.as_tensor(np.asarray(labels[i], dtype=np.float32))
                       for i in self.ids}
        self.transform = transform or default_transform()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        image_id = self.ids[index]
        image = load_image(image_path(self.root, image_id))
        return self.transform(image), self.labels[image_id], image_id


class VOCSegmentation(Dataset):
    """(image, LongTensor HxW label map with 255 = ignore, id) for evaluation.

    The transform applies to the image only; label maps stay at the original resolution.
    """

    def __init__(self, root: Path | str, ids: Iterable[str] | Path | str,
                 transform: Callable[[Image.Image], torch.Tensor] | None = None):
        self.root = Path(root)
        self.ids = read_id_list(ids) if isinstance(ids, (str, Path)) else list(ids)
        self.transform = transform or default_transform()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        image_id = self.ids[index]
        image = load_image(image_path(self.root, image_id))
        label = load_label_map(self.root / LABEL_DIR / f"{image_id}.png")
        if label.shape != (image.size[1], image.size[0]):
            raise ValueError(f"label map of {image_id!r} is {label.shape[1]}x{label.shape[0]} "
                             f"but the image is {image.size[0]}x{image.size[1]}")
        return self.transform(image), torch.from_numpy(label.astype(np.int64)), image_id
