"""VOC 2012 (IRN layout): the real IRN lists and labels, and the two datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from moana.data.metadata import MetadataError
from moana.data.voc import (VOC_CLASSES, VOCClassification, VOCSegmentation, id_to_int,
                            int_to_id, labels_from_segmentation, load_cls_labels, read_id_list,
                            save_cls_labels, voc_palette)


def test_reads_reference_lists_and_labels(reference_dir: Path) -> None:
    voc = reference_dir / "voc12"
    counts = {"train": 1464, "val": 1449, "train_aug": 10582, "test": 1456}
    lists = {name: read_id_list(voc / f"{name}.txt") for name in counts}
    assert {k: len(v) for k, v in lists.items()} == counts
    assert lists["train"][0] == "2007_000032"
    labels = load_cls_labels(voc / "cls_labels.npy")
    assert len(labels) == 12031 and all(i in labels for i in lists["train_aug"])
    vector = labels["2007_000032"]
    assert vector.shape == (20,) and vector.dtype == np.float32
    assert [VOC_CLASSES[i] for i in np.flatnonzero(vector)] == ["aeroplane", "person"]


def test_key_kinds(tmp_path: Path) -> None:
    assert id_to_int("2007_000032") == 2007000032 and int_to_id(2007000032) == "2007_000032"
    vec = np.eye(20, dtype=np.float32)[3]
    for int_keys in (True, False):
        save_cls_labels(tmp_path / "l.npy", {"2011_003276": vec}, int_keys=int_keys)
        raw = np.load(tmp_path / "l.npy", allow_pickle=True).item()
        assert list(raw) == ([2011003276] if int_keys else ["2011_003276"])
        assert (load_cls_labels(tmp_path / "l.npy")["2011_003276"] == vec).all()


def test_bad_labels_and_lists(tmp_path: Path) -> None:
    np.save(tmp_path / "bad.npy", {"2007_000032": np.zeros(5)}, allow_pickle=True)
    with pytest.raises(MetadataError, match=r"bad.npy: label of '2007_000032' has shape \(5,\)"):
        load_cls_labels(tmp_path / "bad.npy")
    (tmp_path / "l.txt").write_text("2007_000032\n2007_000039\n2007_000032\n")
    with pytest.raises(MetadataError, match=r"l.txt:3: duplicated id '2007_000032'"):
        read_id_list(tmp_path / "l.txt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_id_list(tmp_path / "none.txt")


def _tree(root: Path) -> None:
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    Image.new("RGB", (12, 8), (10, 200, 30)).save(root / "JPEGImages" / "2007_000032.jpg")
    label = np.zeros((8, 12), np.uint8)
    label[2:6, 3:9] = 15
    label[1, 2:10] = 255
    png = Image.fromarray(label, mode="P")
    png.putpalette(voc_palette())
    png.save(root / "SegmentationClass" / "2007_000032.png")


def test_datasets(tmp_path: Path) -> None:
    _tree(tmp_path)
    labels = {2007000032: np.eye(20, dtype=np.float32)[14]}  # IRN int keys are accepted
    cls = VOCClassification(tmp_path, ["2007_000032"], labels)
    image, target, image_id = cls[0]
    assert image.shape == (3, 8, 12) and target.dtype == torch.float32
    assert target.argmax().item() == 14 and image_id == "2007_000032"
    seg = VOCSegmentation(tmp_path, ["2007_000032"])
    image, label, _ = seg[0]
    assert label.dtype == torch.int64 and label.shape == (8, 12)
    assert set(label.unique().tolist()) == {0, 15, 255}
    assert labels_from_segmentation(label.numpy()).argmax() == 14
    with pytest.raises(ValueError, match="have no class label"):
        VOCClassification(tmp_path, ["2007_000032", "2007_000039"], labels)
    with pytest.raises(FileNotFoundError, match=r"2007_000039.jpg is missing"):
        VOCSegmentation(tmp_path, ["2007_000039"])[0]
