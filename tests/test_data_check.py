"""``moana data check``: every problem of a dataset reported at once, with file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from moana.cli import main as cli_main
from moana.data.check import check_voc, check_wsol_split
from moana.data.voc import save_cls_labels


def _broken_wsol(tmp_path: Path) -> tuple[Path, Path]:
    data, meta = tmp_path / "images", tmp_path / "metadata" / "test"
    data.mkdir(parents=True)
    meta.mkdir(parents=True)
    Image.new("RGB", (20, 10)).save(data / "ok.png")
    Image.new("RGB", (20, 10)).save(data / "wrong_size.png")
    (data / "corrupt.png").write_bytes(b"\x89PNG broken")
    ids = ["ok.png", "missing.png", "corrupt.png", "wrong_size.png"]
    (meta / "image_ids.txt").write_text("\n".join(ids + ["ok.png"]))
    (meta / "class_labels.txt").write_text("ok.png,0\nmissing.png,7\ncorrupt.png,1\n"
                                          "wrong_size.png,1\nextra.png,0")
    (meta / "image_sizes.txt").write_text("ok.png,20,10\nmissing.png,20,10\ncorrupt.png,20,10\n"
                                         "wrong_size.png,30,10")
    (meta / "localization.txt").write_text("ok.png,0,0,25,5\nmissing.png,1,1,2,2\n"
                                          "corrupt.png,1,1,2\nwrong_size.png,1,1,3,3")
    return data, meta


def test_wsol_reports_everything(tmp_path: Path) -> None:
    data, meta = _broken_wsol(tmp_path)
    text = "\n".join(check_wsol_split(data, meta, num_classes=5))
    expected = [
        "image_ids.txt:5: duplicated image id 'ok.png'",
        "class_labels.txt:2: class id 7 out of range (must be [0, 5))",
        "class_labels.txt:5: image 'extra.png' is not listed in image_ids.txt",
        "localization.txt:1: box (0,0,25,5) lies outside the 20x10 image 'ok.png'",
        "localization.txt:3: expected 'path,x0,y0,x1,y1' or 'path,mask,ignore'",
        "image_ids.txt:2: missing file",
        "image_ids.txt:3: corrupt image",
        "wrong_size.png is listed as 30x10 but the image is 20x10",
    ]
    for line in expected:
        assert line in text, f"{line!r} not in\n{text}"


def test_cli_exit_code_and_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, meta = _broken_wsol(tmp_path)
    assert cli_main(["data", "check", "--data-root", str(data),
                     "--metadata", str(meta.parent)]) == 1
    captured = capsys.readouterr()
    assert "image_ids.txt:2: missing file" in captured.out and "problem(s)" in captured.err
    assert cli_main(["data", "check", "--metadata", str(meta)]) == 1  # message, no traceback
    assert "needs --data-root" in capsys.readouterr().err


def test_missing_masks_reported(tmp_path: Path) -> None:
    data, meta = tmp_path / "images", tmp_path / "meta"
    data.mkdir()
    meta.mkdir()
    Image.new("RGB", (8, 8)).save(data / "a.png")
    (meta / "image_ids.txt").write_text("a.png")
    (meta / "class_labels.txt").write_text("a.png,0")
    (meta / "localization.txt").write_text("a.png,a_mask.png,a_ignore.png")
    text = "\n".join(check_wsol_split(data, meta))
    assert "mask of a.png: missing file" in text and "a_ignore.png" in text


def test_voc_reports_everything(tmp_path: Path) -> None:
    root = tmp_path / "VOC2012"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    lists = root / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    Image.new("RGB", (6, 4)).save(root / "JPEGImages" / "2007_000001.jpg")
    Image.new("RGB", (6, 4)).save(root / "JPEGImages" / "2007_000002.jpg")
    Image.fromarray(np.full((4, 6), 30, np.uint8), mode="L").save(
        root / "SegmentationClass" / "2007_000001.png")
    Image.fromarray(np.zeros((5, 6), np.uint8), mode="L").save(
        root / "SegmentationClass" / "2007_000002.png")
    (lists / "train.txt").write_text("2007_000001\n2007_000002\n2007_000003\n")
    (lists / "val.txt").write_text("2007_000001\n2007_000001\n")
    save_cls_labels(root / "cls_labels.npy", {"2007_000001": np.zeros(20)})
    text = "\n".join(check_voc(root))
    expected = [
        "train.txt:1: label map " + str(root / "SegmentationClass" / "2007_000001.png") + " holds values [30]",
        "train.txt:2: 2007_000002 has no entry in",
        "train.txt:2: " + str(root / "SegmentationClass" / "2007_000002.png") + " is 6x5",
        "train.txt:3: missing file",
        "val.txt:2: duplicated id '2007_000001'",
    ]
    for line in expected:
        assert line in text, f"{line!r} not in\n{text}"
