"""Dataset checks behind ``moana data check``: report every problem at once (file and line).

Covers the wsolevaluation layout (Choe et al., CVPR 2020) and the VOC 2012 layout of IRN
(Ahn et al., CVPR 2019): malformed or duplicated metadata lines, mismatched id lists, class
ids out of range, boxes outside the image, missing or corrupt images and masks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from moana.data.metadata import MetadataError, read_wsol_metadata
from moana.data.voc import (LABEL_DIR, LIST_DIR, VOC_CLASSES, image_path,
                            load_cls_labels, read_id_list)


def _image_problem(path: Path) -> tuple[str | None, tuple[int, int] | None]:
    """(problem, (w, h)) of an image file, without decoding all pixels."""
    if not path.is_file():
        return f"missing file {path}", None
    try:
        with Image.open(path) as image:
            size = image.size
            image.verify()
        return None, size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        return f"corrupt image {path} ({err})", None


def split_dirs(metadata: Path | str) -> list[Path]:
    """A split folder itself, or the split folders (with image_ids.txt) under a metadata root."""
    metadata = Path(metadata)
    if (metadata / "image_ids.txt").is_file():
        return [metadata]
    found = sorted(p.parent for p in metadata.glob("*/image_ids.txt"))
    if not found:
        raise FileNotFoundError(f"no image_ids.txt in {metadata} or its sub-folders")
    return found


def check_wsol_split(data_root: Path | str, split_dir: Path | str, *,
                     num_classes: int | None = None, mask_root: Path | str | None = None,
                     images: bool = True) -> list[str]:
    """All problems of one wsolevaluation split, as ``file:line: message`` strings."""
    errors: list[MetadataError] = []
    try:
        meta = read_wsol_metadata(split_dir, num_classes=num_classes, errors=errors)
    except FileNotFoundError as err:
        return [str(err)]
    problems = [str(e) for e in errors]
    data_root = Path(data_root)
    mask_root = Path(mask_root) if mask_root is not None else data_root
    if images:
        for image_id in meta.image_ids:
            problem, size = _image_problem(data_root / image_id)
            if problem:
                problems.append(f"{meta.where(image_id)}: {problem}")
            elif image_id in meta.image_sizes and size != meta.image_sizes[image_id]:
                w, h = meta.image_sizes[image_id]
                problems.append(f"{meta.directory / 'image_sizes.txt'}: {image_id} is listed as "
                                f"{w}x{h} but the image is {size[0]}x{size[1]}")
        for image_id, paths in meta.masks.items():
            extra = [meta.ignore.get(image_id)] if meta.ignore.get(image_id) else []
            for rel in paths + extra:
                problem, _ = _image_problem(mask_root / rel)
                if problem:
                    problems.append(f"{meta.where(image_id)}: mask of {image_id}: {problem}")
    return problems


def check_voc(root: Path | str, *, lists: list[str] | None = None,
              cls_labels: Path | str | None = None, images: bool = True) -> list[str]:
    """All problems of a VOC2012 tree (IRN layout), as strings naming file (and line)."""
    root = Path(root)
    problems: list[str] = []
    if not root.is_dir():
        return [f"VOC root {root} does not exist"]
    list_paths = ([Path(p) for p in lists] if lists else
                  [root / LIST_DIR / "train.txt", root / LIST_DIR / "val.txt"])
    if not lists and (root / "train_aug.txt").is_file():
        list_paths.append(root / "train_aug.txt")
    labels_path = Path(cls_labels) if cls_labels else root / "cls_labels.npy"
    labels = None
    try:
        labels = load_cls_labels(labels_path)
    except (FileNotFoundError, MetadataError) as err:
        problems.append(str(err))
    for list_path in list_paths:
        try:
            ids = read_id_list(list_path)
        except (FileNotFoundError, MetadataError) as err:
            problems.append(str(err))
            continue
        segmentation = "Segmentation" in list_path.parts
        for number, image_id in enumerate(ids, start=1):
            where = f"{list_path}:{number}"
            if labels is not None and image_id not in labels and list_path.stem != "val":
                problems.append(f"{where}: {image_id} has no entry in {labels_path}")
            if not images:
                continue
            problem, size = _image_problem(image_path(root, image_id))
            if problem:
                problems.append(f"{where}: {problem}")
            if segmentation:
                label_path = root / LABEL_DIR / f"{image_id}.png"
                problem, label_size = _image_problem(label_path)
                if problem:
                    problems.append(f"{where}: {problem}")
                    continue
                with Image.open(label_path) as label_image:
                    values = np.unique(np.asarray(label_image))
                bad = values[(values > len(VOC_CLASSES)) & (values != 255)]
                if bad.size:
                    problems.append(f"{where}: {label_path} has class ids {bad.tolist()} outside "
                                    f"0..{len(VOC_CLASSES)} and 255")
                if size is not None and label_size != size:
                    problems.append(f"{where}: {label_path} is {label_size[0]}x{label_size[1]} "
                                    f"but the image is {size[0]}x{size[1]}")
    return problems
