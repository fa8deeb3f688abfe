"""The prepared data of a work directory: what stage 00 records (``<work_dir>/data.json``, see
:func:`moana.reproduce.profiles.save_data_info`) turned into dataset objects, training-config overrides
and summaries (wsolevaluation layout, Choe et al. CVPR 2020; IRN's VOC layout)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moana.data.metadata import WSOLMetadata, load_wsol_metadata

SPLITS = ("train", "val", "test")


def synthetic_info(wsol: Any, voc_root: Path | None) -> dict[str, Any]:
    """data.json entries for the synthetic benchmark (``SyntheticWSOL`` from moana.data)."""
    root = Path(wsol.data_root).parent
    return {
        "dataset": "synthetic", "synthetic": True, "benchmark_root": str(root),
        "image_root": str(wsol.data_root), "metadata_dir": str(wsol.metadata_root),
        "mask_root": str(wsol.data_root), "num_classes": int(wsol.num_classes),
        "voc_root": str(voc_root) if voc_root else None,
        "synthetic_knobs": {k: wsol.config[k] for k in ("seed", "num_classes", "image_size", "per_class")
                            if k in wsol.config},
    }


def class_names(info: Mapping[str, Any], num_outputs: int) -> list[str]:
    """Names of a classifier's ``num_outputs`` classes on the data of ``info`` (data.json):
    ``"class k"``, and for the synthetic benchmark's extra output (label ``num_classes``, the
    train-only class of object-free images) ``"background (synthetic, train only)"``."""
    names = [f"class {k}" for k in range(num_outputs)]
    objects = info.get("num_classes")
    if info.get("synthetic") and isinstance(objects, int) and num_outputs == objects + 1:
        names[objects] = "background (synthetic, train only)"
    return names


def real_info(dataset: str, data_root: str | Path, metadata_root: str | Path | None,
              voc_root: str | Path | None) -> dict[str, Any]:
    """data.json entries for a real dataset in the wsolevaluation layout (checked to exist)."""
    from moana.data.wsol import dataset_paths

    image_root, split_dir = dataset_paths(data_root, dataset, "test", metadata_root=metadata_root)
    if not image_root.is_dir():
        raise FileNotFoundError(f"{image_root} not found: put the {dataset} images there "
                                f"(data_root={data_root}; see README, 'Real data')")
    for split in SPLITS:
        folder = split_dir.parent / split
        if not folder.is_dir():
            raise FileNotFoundError(f"metadata split folder {folder} not found")
    voc = Path(voc_root) if voc_root else None
    if voc is not None and not (voc / "JPEGImages").is_dir():
        raise FileNotFoundError(f"{voc / 'JPEGImages'} not found (voc_root={voc_root})")
    return {
        "dataset": dataset, "synthetic": False, "data_root": str(Path(data_root).resolve()),
        "metadata_root": str(Path(metadata_root).resolve()) if metadata_root else None,
        "image_root": str(image_root.resolve()), "metadata_dir": str(split_dir.parent.resolve()),
        "mask_root": str(image_root.resolve()), "voc_root": str(voc.resolve()) if voc else None,
    }


def load_split(info: Mapping[str, Any], split: str) -> WSOLMetadata:
    """The :class:`WSOLMetadata` of ``split`` of a prepared dataset (``info`` holds
    ``metadata_dir``).  Raises ValueError for an unknown split; errors of
    :func:`load_wsol_metadata` (naming the file) for missing or malformed metadata."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return load_wsol_metadata(Path(info["metadata_dir"]) / split)


def wsol_dataset(info: Mapping[str, Any], split: str, *, image_size: int = 224) -> Any:
    """A test-transform :class:`moana.data.wsol.WSOLDataset` of one split."""
    from moana.data.wsol import WSOLDataset

    return WSOLDataset(info["image_root"], load_split(info, split), train=False,
                       image_size=image_size, mask_root=info.get("mask_root"))


def train_data_overrides(info: Mapping[str, Any]) -> list[str]:
    """``data.*`` overrides that point a :mod:`moana.train` config at the prepared data."""
    if info.get("synthetic"):
        knobs = json.dumps(info.get("synthetic_knobs", {}))
        return ["data.dataset=synthetic", f"data.data_root={info['benchmark_root']}",
                f"data.synthetic={knobs}"]
    out = [f"data.dataset={info['dataset']}", f"data.data_root={info['data_root']}"]
    if info.get("metadata_root"):
        out.append(f"data.metadata_root={info['metadata_root']}")
    return out


def dataset_summary(info: Mapping[str, Any]) -> pd.DataFrame:
    """Images, classes, boxes and masks per split."""
    rows = []
    for split in SPLITS:
        meta = load_split(info, split)
        boxes = [len(meta.boxes.get(i, [])) for i in meta.image_ids]
        rows.append({
            "split": split, "images": len(meta), "classes": len(set(meta.class_labels.values())),
            "boxes_per_image": float(np.mean(boxes)) if boxes else 0.0,
            "images_with_masks": sum(1 for i in meta.image_ids if meta.masks.get(i)),
        })
    return pd.DataFrame(rows)


def voc_summary(voc_root: str | Path) -> pd.DataFrame:
    """Images per list and class frequency (train list) of a VOC-layout tree."""
    from moana.data.voc import VOC_CLASSES, load_cls_labels, read_id_list

    root = Path(voc_root)
    labels = load_cls_labels(root / "cls_labels.npy")
    rows = []
    for name, path in (("train", root / "ImageSets/Segmentation/train.txt"),
                       ("val", root / "ImageSets/Segmentation/val.txt"),
                       ("train_aug", root / "train_aug.txt")):
        if not path.is_file():
            continue
        ids = read_id_list(path)
        present = np.stack([labels[i] for i in ids if i in labels]) if ids else np.zeros((0, 20))
        row: dict[str, Any] = {"list": name, "images": len(ids),
                               "objects_per_image": float(present.sum(1).mean()) if len(present) else 0.0}
        row.update({c: int(present[:, k].sum()) for k, c in enumerate(VOC_CLASSES)})
        rows.append(row)
    return pd.DataFrame(rows)
