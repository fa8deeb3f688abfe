"""WSOLDataset on subsets of the real metadata with generated stand-in images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from moana.data.metadata import load_wsol_metadata
from moana.data.wsol import WSOLDataset, dataset_paths, load_mask, resize_box, scaled_boxes

FILES = ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")


def _subset(source: Path, target: Path, count: int, step: int = 1) -> list[str]:
    """Copy the lines of ``count`` images (every ``step``-th) of a real split."""
    ids = source.joinpath("image_ids.txt").read_text().splitlines()[::step][:count]
    keep = set(ids)
    target.mkdir(parents=True)
    for name in FILES:
        lines = source.joinpath(name).read_text().splitlines()
        target.joinpath(name).write_text("\n".join(l for l in lines if l.split(",")[0] in keep))
    return ids


def _stand_in_images(root: Path, meta, default=(50, 40)) -> None:
    for image_id in meta.image_ids:
        w, h = meta.image_sizes.get(image_id, default)
        path = root / image_id
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h), (120, 30, 200)).save(path)


@pytest.mark.parametrize("dataset, split, step", [("CUB", "train", 997), ("CUB", "val", 97),
                                                  ("CUB", "test", 991), ("ILSVRC", "val", 499)])
def test_boxes_rescaled_like_wsolevaluation(reference_dir: Path, tmp_path: Path, dataset: str,
                                            split: str, step: int) -> None:
    meta_dir = tmp_path / "metadata" / dataset / split
    ids = _subset(reference_dir / "wsol_metadata" / dataset / split, meta_dir, 6, step)
    data_root, meta_path = dataset_paths(tmp_path / "data", dataset, split,
                                         metadata_root=tmp_path / "metadata")
    assert meta_path == meta_dir
    meta = load_wsol_metadata(meta_dir)
    _stand_in_images(data_root, meta)
    ds = WSOLDataset(data_root, meta_dir, train=False, image_size=32)
    image, label, image_id = ds[len(ds) - 1]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert image_id == ids[-1] and label == meta.class_labels[image_id]
    for image_id in ids:
        w, h = meta.image_sizes[image_id]
        expected = [(int(x0 * 32 / w), int(y0 * 32 / h), int(x1 * 32 / w), int(y1 * 32 / h))
                    for x0, y0, x1, y1 in meta.boxes[image_id]]
        assert ds.boxes(image_id).tolist() == [list(b) for b in expected]


def test_ilsvrc_first_box_at_224(reference_dir: Path) -> None:
    meta = load_wsol_metadata(reference_dir / "wsol_metadata" / "ILSVRC" / "val")
    assert resize_box((156, 163, 318, 230), (500, 375), (224, 224)) == (69, 97, 142, 137)
    assert scaled_boxes(meta, "val2/0/0.jpeg")[0].tolist() == [69, 97, 142, 137]


def test_train_transform_and_crop(reference_dir: Path, tmp_path: Path) -> None:
    meta_dir = tmp_path / "meta"
    _subset(reference_dir / "wsol_metadata" / "CUB" / "train", meta_dir, 2)
    meta = load_wsol_metadata(meta_dir)
    _stand_in_images(tmp_path / "CUB", meta)
    ds = WSOLDataset(tmp_path / "CUB", meta, train=True, resize_size=40, crop_size=32)
    assert ds[0][0].shape == (3, 32, 32) and ds.metadata is meta


def test_openimages_masks(reference_dir: Path, tmp_path: Path) -> None:
    meta_dir = tmp_path / "meta"
    _subset(reference_dir / "wsol_metadata" / "OpenImages" / "val", meta_dir, 40)
    meta = load_wsol_metadata(meta_dir)
    root = tmp_path / "OpenImages"
    _stand_in_images(root, meta)
    image_id = next(i for i, m in meta.masks.items() if len(m) > 1)
    for k, rel in enumerate(meta.masks[image_id]):  # instance k covers column band k
        mask = np.zeros((40, 50), np.uint8)
        mask[:, 10 * k:10 * k + 10] = 255
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), mask)
    ignore = np.zeros((40, 50), np.uint8)
    ignore[:20] = 255
    cv2.imwrite(str(root / meta.ignore[image_id]), ignore)
    ds = WSOLDataset(root, meta, train=False, image_size=50)
    got = ds.mask(image_id)
    n = len(meta.masks[image_id])
    assert got.shape == (50, 50) and set(np.unique(got)) <= {0, 1, 255}
    assert (got[:, : 10 * n] == 1).all()  # merged instances, object wins over ignore
    assert (got[:25, 10 * n:] == 255).all() and (got[25:, 10 * n:] == 0).all()
    assert ds[0][0].shape == (3, 50, 50)


def test_missing_and_corrupt_image_errors(tmp_path: Path) -> None:
    meta_dir = tmp_path / "meta"
    meta_dir.mkdir()
    (meta_dir / "image_ids.txt").write_text("x/a.png\nx/b.png")
    (meta_dir / "class_labels.txt").write_text("x/a.png,0\nx/b.png,0")
    (tmp_path / "img" / "x").mkdir(parents=True)
    (tmp_path / "img" / "x" / "b.png").write_bytes(b"not a png")
    ds = WSOLDataset(tmp_path / "img", meta_dir, train=False, image_size=16)
    with pytest.raises(FileNotFoundError, match=r"a.png is missing \(listed at .*image_ids.txt:1\)"):
        ds[0]
    with pytest.raises(ValueError, match=r"b.png is corrupt .*image_ids.txt:2"):
        ds[1]
    with pytest.raises(KeyError, match="no mask"):
        load_mask(tmp_path, ds.metadata, "x/a.png")
    with pytest.raises(ValueError, match="unknown WSOL dataset"):
        dataset_paths(tmp_path, "COCO", "train")
