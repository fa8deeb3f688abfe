"""Dataset preparation: CUB metadata generator vs wsolevaluation, archives, VOC labels."""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from moana.data import prepare
from moana.data.metadata import load_wsol_metadata
from moana.data.voc import load_cls_labels, voc_palette

REPO = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"data_prep_{name}", REPO / "data_prep" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference_lines(split_dir: Path, count: int) -> dict[str, list[str]]:
    return {name: (split_dir / name).read_text().splitlines()[:count]
            for name in ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")}


def _fake_cub(reference_dir: Path, cub_dir: Path, count: int = 3) -> dict[str, dict]:
    """A CUB_200_2011 tree holding the first images of the reference train and test splits."""
    ref = {s: _reference_lines(reference_dir / "wsol_metadata" / "CUB" / s, count)
           for s in ("train", "test")}
    order = [("test", 0), ("train", 0), ("test", 1), ("train", 1), ("train", 2), ("test", 2)]
    images, boxes, splits, labels = [], [], [], []
    for number, (split, k) in enumerate(order, start=1):
        image_id = ref[split]["image_ids.txt"][k]
        _, w, h = ref[split]["image_sizes.txt"][k].split(",")
        _, x0, y0, x1, y1 = map(lambda v: v, ref[split]["localization.txt"][k].split(","))
        label = int(ref[split]["class_labels.txt"][k].split(",")[1])
        path = cub_dir / "images" / image_id
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (int(w), int(h))).save(path, format="JPEG")
        images.append(f"{number} {image_id}")
        boxes.append(f"{number} {float(x0)} {float(y0)} {float(int(x1) - int(x0))} "
                     f"{float(int(y1) - int(y0))}")
        splits.append(f"{number} {1 if split == 'train' else 0}")
        labels.append(f"{number} {label + 1}")
    for name, rows in (("images.txt", images), ("bounding_boxes.txt", boxes),
                       ("train_test_split.txt", splits), ("image_class_labels.txt", labels)):
        (cub_dir / name).write_text("\n".join(rows) + "\n")
    return ref


def test_cub_generator_matches_wsolevaluation(reference_dir: Path, tmp_path: Path) -> None:
    cub = tmp_path / "CUB_200_2011"
    ref = _fake_cub(reference_dir, cub)
    generated = prepare.cub_metadata(cub)
    for split in ("train", "test"):
        assert generated[split] == ref[split]


def test_cub_script_end_to_end(reference_dir: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture) -> None:
    ref = _fake_cub(reference_dir, tmp_path / "src" / "CUB_200_2011")
    archive = tmp_path / "CUB_200_2011.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "CUB_200_2011", arcname="CUB_200_2011")
    release = tmp_path / "release" / "metadata" / "CUB" / "val"
    release.mkdir(parents=True)
    for name, rows in _reference_lines(reference_dir / "wsol_metadata" / "CUB" / "val", 2).items():
        (release / name).write_text("\n".join(rows))
    cub = _script("cub")
    root = tmp_path / "data"
    args = ["--archive", str(archive), "--root", str(root), "--skip-checksum",
            "--wsol-metadata", str(tmp_path / "release")]
    for _ in range(2):  # idempotent
        assert cub.main(args) == 0
    train = load_wsol_metadata(root / "metadata" / "CUB" / "train")
    assert train.image_ids == ref["train"]["image_ids.txt"]
    assert (root / "CUB" / train.image_ids[0]).is_file()
    assert len(load_wsol_metadata(root / "metadata" / "CUB" / "val")) == 2
    text = (root / "metadata" / "CUB" / "test" / "localization.txt").read_text()
    assert not text.endswith("\n")  # wsolevaluation files end without a newline

    assert cub.main(["--archive", str(tmp_path / "none.tgz"), "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "none.tgz is missing" in err and "cub_200_2011" in err
    partial = tmp_path / "partial.tgz"
    partial.write_bytes(archive.read_bytes()[:200])
    assert cub.main(["--archive", str(partial), "--root", str(tmp_path / "d2"),
                     "--skip-checksum"]) == 1
    assert "partial" in capsys.readouterr().err
    assert cub.main(["--archive", str(archive), "--root", str(tmp_path / "d3")]) == 1
    assert "expected 97eceeb196236b17998738112f37df78" in capsys.readouterr().err


def test_install_release_refuses_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="wsolevaluation"):
        prepare.install_wsol_metadata(tmp_path, "ILSVRC", tmp_path / "out", ["val"])


def test_voc_cls_labels_from_segmentation_and_xml(tmp_path: Path) -> None:
    (tmp_path / "SegmentationClass").mkdir()
    (tmp_path / "Annotations").mkdir()
    label = np.zeros((4, 4), np.uint8)
    label[1:3, 1:3] = 12
    label[0] = 255
    png = Image.fromarray(label, mode="P")
    png.putpalette(voc_palette())
    png.save(tmp_path / "SegmentationClass" / "2007_000001.png")
    (tmp_path / "Annotations" / "2008_000002.xml").write_text(
        "<annotation><object><name>cat</name></object><object><name>person</name></object>"
        "</annotation>")
    out = tmp_path / "cls_labels.npy"
    assert prepare.write_voc_cls_labels(tmp_path, ["2007_000001", "2008_000002"], out) == 2
    labels = load_cls_labels(out)
    assert np.flatnonzero(labels["2007_000001"]).tolist() == [11]  # dog
    assert np.flatnonzero(labels["2008_000002"]).tolist() == [7, 14]  # cat, person
    (tmp_path / "Annotations" / "2008_000003.xml").write_text(
        "<annotation><object><name>unicorn</name></object></annotation>")
    with pytest.raises(ValueError, match="object 1 has unknown class 'unicorn'"):
        prepare.voc_cls_labels(tmp_path, ["2008_000003"])


def test_openimages_and_ilsvrc_scripts(reference_dir: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    import zipfile

    source = reference_dir / "wsol_metadata" / "OpenImages" / "val"
    release = tmp_path / "metadata" / "OpenImages" / "val"
    release.mkdir(parents=True)
    lines = (source / "localization.txt").read_text().splitlines()[:1]
    image_id, mask, ignore = lines[0].split(",")
    (release / "image_ids.txt").write_text(image_id)
    (release / "class_labels.txt").write_text(f"{image_id},0")
    (release / "image_sizes.txt").write_text("")
    (release / "localization.txt").write_text(lines[0])
    archive = tmp_path / "OpenImages_images.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for rel in (image_id, mask, ignore):
            zf.writestr(f"OpenImages/{rel}", b"stand-in")
    script = _script("openimages")
    root = tmp_path / "data"
    args = ["--root", str(root), "--wsol-metadata", str(tmp_path), "--archives", str(archive)]
    assert script.main(args) == 0 and script.main(args) == 0
    assert (root / "OpenImages" / mask).is_file()
    meta = load_wsol_metadata(root / "metadata" / "OpenImages" / "val")
    assert meta.masks[image_id] == [mask] and meta.ignore[image_id] == ignore
    assert _script("ilsvrc").main(["--root", str(root), "--wsol-metadata", str(tmp_path)]) == 1
    assert "no ILSVRC splits" in capsys.readouterr().err
