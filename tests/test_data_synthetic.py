"""The synthetic part-versus-whole benchmark: formats, ground truth, determinism, CLI."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from moana.cli import main as cli_main
from moana.data.check import check_voc, check_wsol_split
from moana.data.metadata import load_wsol_metadata
from moana.data.synthetic import (VOCSynthSpec, WSOLSynthSpec, class_orientation, draw_voc_image,
                                  draw_wsol_image, make_voc_dataset, make_wsol_dataset,
                                  mark_of_class)
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
        if split == "train":  # + the background class (label 4), labels only
            meta = load_wsol_metadata(syn.split_dir(split), num_classes=5)
            assert len(meta) == 5 * n and sorted(set(meta.class_labels.values())) == [0, 1, 2, 3, 4]
            assert not meta.boxes and not meta.masks
            assert check_wsol_split(syn.data_root, syn.split_dir(split), num_classes=5) == []
            continue
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
                     "--num-classes", "3", "--image-size", "32", "--per-class",
                     "train=2,val=1,test=1", "--mark-fraction", "0.05,0.09"]) == 0
    # 3 object classes + the train split's background class (id 3)
    assert cli_main(["data", "check", "--data-root", str(out / "images"),
                     "--metadata", str(out / "metadata"), "--num-classes", "4"]) == 0
    assert "no problems found" in capsys.readouterr().out
    assert cli_main(["data", "check", "--data-root", str(out / "images"),
                     "--metadata", str(out / "metadata"), "--num-classes", "3"]) == 1
    assert "train/class_labels.txt:7: class id 3 out of range" in capsys.readouterr().out
    voc = tmp_path / "v"
    assert cli_main(["data", "synth", "--kind", "voc", "--out", str(voc), "--num-train", "2",
                     "--num-val", "1", "--image-size", "32,40"]) == 0
    assert cli_main(["data", "check", "--kind", "voc", "--root", str(voc)]) == 0


def test_spec_fields_are_the_knobs(tmp_path: Path) -> None:
    import json

    syn = make_wsol_dataset(tmp_path / "w", seed=1, num_classes=2, image_size=32,
                            per_class={"train": 1, "val": 1, "test": 1}, body_evidence=0.5,
                            mark_hidden=0.25, body_aspect=[0.5, 0.9])
    made = json.loads((tmp_path / "w" / "synthetic.json").read_text())
    for f in dataclasses.fields(WSOLSynthSpec):
        assert f.name in made
    assert made["body_evidence"] == 0.5 and made["mark_hidden"] == 0.25
    assert made["body_aspect"] == [0.5, 0.9] and syn.config["per_class"]["test"] == 1
    with pytest.raises(ValueError, match="unknown WSOLSynthSpec knob"):
        make_wsol_dataset(tmp_path / "x", objects=(1, 2))
    with pytest.raises(ValueError, match="body_evidence"):
        WSOLSynthSpec.from_knobs(body_evidence=1.5)
    with pytest.raises(ValueError, match="unknown VOCSynthSpec knob"):
        make_voc_dataset(tmp_path / "v", per_class={"train": 1})


def test_objects_are_off_centre_and_of_varied_size() -> None:
    spec = WSOLSynthSpec(num_classes=4, image_size=64)
    fractions, centres = [], []
    for i in range(40):
        _, drawn = draw_wsol_image(spec, "test", i % 4, i)
        fractions.append(drawn.mask.mean())
        ys, xs = np.nonzero(drawn.mask)
        centres.append(np.hypot(xs.mean() - 31.5, ys.mean() - 31.5))
    fractions = np.array(fractions)
    assert 0.06 < fractions.min() and fractions.max() < 0.36  # body 8-30% (+ outline waves)
    assert fractions.std() > 0.04
    assert np.median(centres) > 8  # most objects are well away from the image centre


def test_body_evidence_rate_and_orientation() -> None:
    spec = WSOLSynthSpec(num_classes=4, image_size=32, body_evidence=0.7)
    drawn = [draw_wsol_image(spec, "train", i % 4, i)[1] for i in range(200)]
    rate = np.mean([d.body_matches for d in drawn])
    assert abs(rate - 0.7) < 0.1  # binomial sd ~0.03
    for i, d in enumerate(drawn):
        if d.body_matches:
            assert d.angle == pytest.approx(class_orientation(i % 4, 4))
    none = WSOLSynthSpec(num_classes=4, image_size=32, body_evidence=0.0)
    assert not any(draw_wsol_image(none, "train", 0, i)[1].body_matches for i in range(20))


def _has_saturated_red(image: np.ndarray) -> bool:
    r, g, b = (image[..., c].astype(int) for c in range(3))
    return bool(((r > 180) & (g < 90) & (b < 90)).sum() >= 3)


def test_mark_hiding_control_only_in_train() -> None:
    spec = WSOLSynthSpec(num_classes=1, image_size=48, mark_hidden=0.5)
    train = [draw_wsol_image(spec, "train", 0, i) for i in range(60)]
    shown = np.array([d.mark_shown for _, d in train])
    assert 0.3 < shown.mean() < 0.7
    for image, d in train:  # class 0's mark is red; nothing else in an image is saturated
        assert _has_saturated_red(image) == d.mark_shown
        assert d.mask.any() and (d.mark.any() == d.mark_shown)
    assert all(draw_wsol_image(spec, "test", 0, i)[1].mark_shown for i in range(30))
    assert all(_has_saturated_red(draw_wsol_image(spec, "val", 0, i)[0]) for i in range(10))


def test_hidden_mark_bodies_carry_the_class() -> None:
    spec = WSOLSynthSpec(num_classes=4, image_size=32, mark_hidden=0.5)
    drawn = [draw_wsol_image(spec, "train", 2, i)[1] for i in range(60)]
    hidden = [d for d in drawn if not d.mark_shown]
    assert hidden and all(d.body_matches for d in hidden)  # hidden_body_evidence=1 (default)
    assert all(d.angle == class_orientation(2, 4) for d in hidden)
    old = WSOLSynthSpec(num_classes=4, image_size=32, mark_hidden=0.5, hidden_body_evidence=0.0)
    assert not any(d.body_matches for d in
                   (draw_wsol_image(old, "train", 2, i)[1] for i in range(60)) if not d.mark_shown)
    # without hiding, the images do not depend on the knob (hiding is drawn only when on)
    a, b = (WSOLSynthSpec(num_classes=4, image_size=32, hidden_body_evidence=e) for e in (1, 0))
    assert all((draw_wsol_image(a, "train", 1, i)[0] == draw_wsol_image(b, "train", 1, i)[0]).all()
               for i in range(5))


def test_background_class(tmp_path: Path) -> None:
    spec = WSOLSynthSpec(num_classes=3, image_size=32, per_class={"train": 4, "val": 1, "test": 1},
                         train_background=0.5)
    assert spec.background_count() == 2
    syn = make_wsol_dataset(tmp_path / "w", **spec.to_json())
    train = load_wsol_metadata(syn.split_dir("train"), num_classes=4)
    background = [i for i in train.image_ids if train.class_labels[i] == 3]
    assert len(background) == 2 and len(train) == 14
    for image_id in background:  # object-free: none of the 3 classes' mark colours
        image = cv2.imread(str(syn.data_root / image_id))[..., ::-1].astype(int)
        for k in range(3):
            near = np.abs(image - np.array(mark_of_class(k)[1])).max(-1) < 60
            assert near.sum() < 3
    assert not (syn.split_dir("train") / "localization.txt").exists()
    for split in ("val", "test"):  # object classes only, with boxes
        meta = load_wsol_metadata(syn.split_dir(split), num_classes=3)
        assert len(meta) == 3 and set(meta.boxes) == set(meta.image_ids)
    none = make_wsol_dataset(tmp_path / "n", **{**spec.to_json(), "train_background": 0})
    assert len(load_wsol_metadata(none.split_dir("train"), num_classes=3)) == 12
    assert (none.split_dir("train") / "localization.txt").is_file()
    with pytest.raises(ValueError, match="train_background"):
        WSOLSynthSpec(train_background=-1).validate()


def test_body_contrast() -> None:
    spec = WSOLSynthSpec(num_classes=2, image_size=64, body_contrast=0.2, noise=0.0, clutter=0)
    for i in range(10):
        image, d = draw_wsol_image(spec, "test", i % 2, i)
        ring = cv2.dilate(d.mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        ring &= ~d.mask
        body = d.mask & ~d.mark
        assert abs(image[body].mean() - image[ring].mean()) / 255 > 0.08


def test_voc_knobs(tmp_path: Path) -> None:
    spec = VOCSynthSpec(num_classes=3, objects=(1, 2), image_size=(40, 48), mark_hidden=1.0)
    image, label, present, drawn = draw_voc_image(spec, "train", 0)
    assert image.shape[:2] == label.shape and not any(d.mark_shown for d in drawn)
    assert set(present.tolist()) <= {0, 1, 2}
    _, _, _, val_drawn = draw_voc_image(spec, "val", 0)
    assert all(d.mark_shown for d in val_drawn)


def test_cli_flags_are_spec_fields(tmp_path: Path) -> None:
    import json

    out = tmp_path / "w"
    assert cli_main(["data", "synth", "--out", str(out), "--num-classes", "2", "--image-size",
                     "32", "--per-class", "train=2,val=1,test=1", "--body-evidence", "0.4",
                     "--mark-hidden", "0.5", "--body-fraction", "0.1,0.2"]) == 0
    made = json.loads((out / "synthetic.json").read_text())
    assert made["body_evidence"] == 0.4 and made["mark_hidden"] == 0.5
    assert made["body_fraction"] == [0.1, 0.2] and made["per_class"]["train"] == 2


def test_voc_class_count_matches_the_loader():
    from moana.data.synthetic import NUM_VOC_CLASSES
    from moana.data.voc import VOC_CLASSES

    assert NUM_VOC_CLASSES == len(VOC_CLASSES)
