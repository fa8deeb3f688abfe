"""PASCAL VOC 2012 as torch datasets for MoANA's WSSS experiments (IRN's layout, see
:mod:`moana.data.voc`): image-level labels for CAM training, label maps for evaluation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms as T

from moana.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from moana.data.voc import LABEL_DIR, image_path, int_to_id, load_cls_labels, load_label_map, \
    read_id_list
from moana.data.wsol import load_image


def default_transform() -> Callable[[Image.Image], torch.Tensor]:
    """PIL image -> (3, H, W) float tensor normalized with the ImageNet mean and std."""
    return T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


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
            source = f" in {cls_labels}" if isinstance(cls_labels, (str, Path)) else ""
            listed = f" listed in {ids}" if isinstance(ids, (str, Path)) else ""
            raise ValueError(f"{len(missing)} image(s){listed} have no class label{source}, "
                             f"e.g. {missing[:3]}")
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
            raise ValueError(f"label map {self.root / LABEL_DIR / f'{image_id}.png'} is "
                             f"{label.shape[1]}x{label.shape[0]} but the image is "
                             f"{image.size[0]}x{image.size[1]}")
        return self.transform(image), torch.from_numpy(label.astype(np.int64)), image_id
