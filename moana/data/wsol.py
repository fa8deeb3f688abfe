"""WSOL datasets in the wsolevaluation layout (Choe et al., CVPR 2020), as used by MoANA.

Real data: images under ``<data_root>/<DATASET>/`` and metadata under
``<metadata_root>/<DATASET>/<split>/`` for DATASET in CUB, ILSVRC, OpenImages and split in
train (train-weaksup), val (train-fullsup) and test. Mask and ignore PNG paths are relative to
``<data_root>/<DATASET>/``. Ground truth comes back rescaled to the evaluation resolution with
wsolevaluation's rules (boxes: ``int(x * new / old)``; masks: nearest-neighbour resize, > 0.5).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from moana.data.boxes import resize_box  # noqa: F401  (also importable from here)
from moana.data.image_modes import to_rgb8
from moana.data.metadata import WSOLMetadata, load_wsol_metadata
from moana.data.transforms import wsol_eval_transform, wsol_train_transform

DATASETS = ("CUB", "ILSVRC", "OpenImages")
SPLITS = ("train", "val", "test")
#: wsolevaluation's names for the splits.
SPLIT_ALIASES = {"train": "train-weaksup", "val": "train-fullsup", "test": "test"}


def dataset_paths(root: Path | str, dataset: str, split: str, *,
                  metadata_root: Path | str | None = None) -> tuple[Path, Path]:
    """(image folder, metadata split folder) of a real dataset.

    ``root`` is the data root holding ``<DATASET>/``; metadata defaults to ``<root>/metadata``
    (``<metadata_root>/<DATASET>/<split>``).
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown WSOL dataset {dataset!r}; expected one of {DATASETS}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    root = Path(root)
    meta_root = Path(metadata_root) if metadata_root is not None else root / "metadata"
    return root / dataset, meta_root / dataset / split


def load_image(path: Path, where: str = "") -> Image.Image:
    """Open an image as 8-bit RGB (every PIL mode: :func:`moana.data.image_modes.to_rgb8`); a
    missing, unreadable or unconvertible file raises an error naming it (and ``where``)."""
    suffix = f" (listed at {where})" if where else ""
    if not path.is_file():
        raise FileNotFoundError(f"image {path} is missing{suffix}")
    try:
        with Image.open(path) as image:
            return to_rgb8(image, path)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise ValueError(f"image {path} is corrupt or not an image{suffix}: {err}") from err


def scaled_boxes(metadata: WSOLMetadata, image_id: str, image_size: int = 224) -> np.ndarray:
    """Ground-truth boxes of an image at the evaluation resolution, int array (N, 4)."""
    boxes = metadata.boxes.get(image_id, [])
    if not boxes:
        return np.zeros((0, 4), dtype=np.int64)
    if image_id not in metadata.image_sizes:
        raise ValueError(f"{metadata.directory / 'image_sizes.txt'}: no size for {image_id!r} "
                         f"({metadata.where(image_id)}); its boxes cannot be rescaled")
    size = metadata.image_sizes[image_id]
    return np.array([resize_box(b, size, (image_size, image_size)) for b in boxes], dtype=np.int64)


def _read_mask(path: Path, image_size: int) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"mask {path} is missing")
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"mask {path} is corrupt or not an image")
    mask = cv2.resize(mask.astype(np.float32), (image_size, image_size),
                      interpolation=cv2.INTER_NEAREST)
    return mask > 0.5


def load_mask(mask_root: Path | str, metadata: WSOLMetadata, image_id: str,
              image_size: int = 224) -> np.ndarray:
    """Ground-truth mask at the evaluation resolution: uint8, 1 object, 0 background, 255 ignore.

    All instance masks are merged; the ignore region excludes the object (wsolevaluation).
    """
    mask_root = Path(mask_root)
    paths = metadata.masks.get(image_id)
    if not paths:
        raise KeyError(f"no mask for {image_id!r} in {metadata.directory}")
    fg = np.zeros((image_size, image_size), dtype=bool)
    for rel in paths:
        fg |= _read_mask(mask_root / rel, image_size)
    out = fg.astype(np.uint8)
    ignore = metadata.ignore.get(image_id)
    if ignore:
        out[_read_mask(mask_root / ignore, image_size) & ~fg] = 255
    return out


class WSOLDataset(Dataset):
    """Images of one split with their class label (and image id), wsolevaluation-style.

    Items are ``(image, label, image_id)``: a normalized FloatTensor 3xSxS (S = ``crop_size``
    when training, ``image_size`` otherwise), an int and the id (path relative to
    ``data_root``). Ground truth at the evaluation resolution: :meth:`boxes`, :meth:`mask`.
    """

    def __init__(self, data_root: Path | str, metadata: WSOLMetadata | Path | str, *,
                 train: bool, image_size: int = 224, resize_size: int = 256,
                 crop_size: int = 224, mask_root: Path | str | None = None):
        self.data_root = Path(data_root)
        if not self.data_root.is_dir():
            raise FileNotFoundError(f"image folder {self.data_root} does not exist")
        self.metadata = (metadata if isinstance(metadata, WSOLMetadata)
                         else load_wsol_metadata(metadata))
        self.train = train
        self.image_size = image_size
        self.mask_root = Path(mask_root) if mask_root is not None else self.data_root
        self.transform = (wsol_train_transform(resize_size, crop_size) if train
                          else wsol_eval_transform(image_size))

    def __len__(self) -> int:
        return len(self.metadata.image_ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        image_id = self.metadata.image_ids[index]
        image = load_image(self.data_root / image_id, self.metadata.where(image_id))
        return self.transform(image), self.metadata.class_labels[image_id], image_id

    def boxes(self, image_id: str) -> np.ndarray:
        """Boxes (N, 4) of an image at ``image_size`` (eval resolution)."""
        return scaled_boxes(self.metadata, image_id, self.image_size)

    def mask(self, image_id: str) -> np.ndarray:
        """Mask (S, S) of an image at ``image_size``: 1 object, 0 background, 255 ignore."""
        return load_mask(self.mask_root, self.metadata, image_id, self.image_size)
