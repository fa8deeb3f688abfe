"""The synthetic part-versus-whole benchmark: formats, ground truth, determinism, CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from moana.cli import main as cli_main
from moana.data.check import check_voc, check_wsol_split
from moana.data.metadata import load_wsol_metadata
from moana.data.synthetic import make_voc_dataset, make_wsol_dataset, mark_of_class
from moana.data.voc import VOCClassification, VOCSegmentation, load_cls_labels, read_id_list
from moana.data.wsol import WSOLDataset

SMALL = {"train": 3, "val": 1, "test": 2}


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_wsol_format_and_ground_truth(tmp_path: Path) -> None:
    syn = make_wsol_dataset(tmp_path / "w", seed=1, num_classes=4, image_size=48, per_class=SMALL)
    for split, n in SMALL.items():
        meta = load_wsol_metadata(syn.split_dir(split), num_classes=4)
        assert len(meta) == 4 * n and sorted(set(meta.class_labels.values())) == [0, 1, 2, 3]
        assert set(meta.boxes) == set(meta.masks) == set(meta.image_ids)
        assert check_wsol_split(syn.data_root, syn.split_dir(split), num_classes=4) == []
    ds = WSOLDataset(syn.data_root, syn.split_dir("test"), train=False, image_size=48)
    image, label, image_id = ds[0]
    assert image.shape == (3, 48, 48)
    mask = ds.mask(image_id)
    x0, y0, x1, y1 = ds.boxes(image_id)[0]
    ys, xs = np.nonzero(mask == 1)  # the box is the whole object's mask extent
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
    assert 0.05 < (mask == 1).mean() < 0.6


def test_marks_are_distinct_for_many_classes() -> None:
    marks = [mark_of_class(k) for k in range(50)]
    assert len(set(marks)) == 50


def test_deterministic_bytes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        make_wsol_dataset(tmp_path / name, seed=3, num_classes=2, image_size=32,
                          per_class={"train": 2, "val": 1, "test": 1})
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    make_wsol_dataset(tmp_path / "c", seed=4, num_classes=2, image_size=32,
                      per_class={"train": 2, "val": 1, "test": 1})
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_voc_format(tmp_path: Path) -> None:
    root = make_voc_dataset(tmp_path / "v", seed=0, num_train=6, num_val=3, image_size=(40, 56))
    train, val = (read_id_list(root / "ImageSets" / "Segmentation" / f"{s}.txt")
                  for s in ("train", "val"))
    assert len(train) == 6 and len(val) == 3 and read_id_list(root / "train_aug.txt") == train
    raw = np.load(root / "cls_labels.npy", allow_pickle=True).item()
    assert all(isinstance(k, int) for k in raw)  # IRN's integer keys
    labels = load_cls_labels(root / "cls_labels.npy")
    cls = VOCClassification(root, train, labels)
    seg = VOCSegmentation(root, val)
    _, target, _ = cls[0]
    assert 1 <= target.sum() <= 3
    for i in range(len(seg)):
        image, label, image_id = seg[i]
        values = set(label.unique().tolist())
        assert 255 in values and values <= set(range(21)) | {255}
        present = {v - 1 for v in values - {0, 255}}
        assert present == set(np.flatnonzero(labels[image_id]).tolist())
    assert check_voc(root) == []
    before = _digest(root)
    make_voc_dataset(tmp_path / "v", seed=0, num_train=6, num_val=3, image_size=(40, 56))
    assert _digest(root) == before


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mark_fraction"):
        make_wsol_dataset(tmp_path, mark_fraction=(0.2, 0.1))
    with pytest.raises(ValueError, match="num_classes"):
        make_voc_dataset(tmp_path, num_classes=21)


def test_cli_synth_and_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "w"
    assert cli_main(["data", "synth", "--kind", "wsol", "--out", str(out), "--seed", "2",
                     "--num-classes", "3", "--image-size", "32", "--train", "2", "--val", "1",
                     "--test", "1", "--mark-fraction", "0.05,0.09"]) == 0
    assert cli_main(["data", "check", "--data-root", str(out / "images"),
                     "--metadata", str(out / "metadata"), "--num-classes", "3"]) == 0
    assert "no problems found" in capsys.readouterr().out
    voc = tmp_path / "v"
    assert cli_main(["data", "synth", "--kind", "voc", "--out", str(voc), "--train-images", "2",
                     "--val-images", "1", "--image-size", "32,40"]) == 0
    assert cli_main(["data", "check", "--kind", "voc", "--root", str(voc)]) == 0
