"""Bad inputs a researcher can bring: each gets the right answer or a one-line error naming the
file (and line). One test (or a few) per kind of fault."""

from __future__ import annotations

import codecs
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from moana.cam import normalize_scoremap, save_scoremap, scoremap_from_cam
from moana.cli import main as cli_main
from moana.data.check import check_wsol_split
from moana.data.metadata import MetadataError, load_wsol_metadata
from moana.data.voc import (VOCClassification, VOCSegmentation, id_from_token, load_cls_labels,
                            read_id_list, save_cls_labels)
from moana.metrics import BoxEvaluator, MaskEvaluator, check_scoremap


# --------------------------------------------------------------------------- helpers
def _split(folder: Path, ids: list[str], labels: list[int], *, size: tuple[int, int] = (40, 40),
           raw: dict[str, bytes] | None = None) -> Path:
    """A wsolevaluation split of len(ids) images of ``size``, one box each."""
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    files = {
        "image_ids.txt": "\n".join(ids) + "\n",
        "class_labels.txt": "\n".join(f"{i},{c}" for i, c in zip(ids, labels)) + "\n",
        "image_sizes.txt": "\n".join(f"{i},{w},{h}" for i in ids) + "\n",
        "localization.txt": "\n".join(f"{i},5,5,{w - 5},{h - 5}" for i in ids) + "\n",
    }
    for name, text in files.items():
        (folder / name).write_bytes((raw or {}).get(name, text.encode("utf-8")))
    return folder


def _images(root: Path, ids: list[str], size: tuple[int, int] = (40, 40)) -> Path:
    for image_id in ids:
        (root / image_id).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (90, 120, 30)).save(root / image_id)
    return root


def _blob(size: int, cx: float, cy: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    m = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.05 * size * size))
    return (m - m.min()) / (m.max() - m.min())


def _cli_error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """Run the CLI, require a non-zero exit and no traceback; return stderr."""
    code = cli_main(argv)
    err = capsys.readouterr().err
    assert code != 0, err
    assert "Traceback" not in err
    return err


# --------------------------------------------------------------------------- kind 1
def test_uint8_scoremap_is_a_one_line_cli_error(tmp_path, capsys):
    ids = ["a.jpg", "b.jpg"]
    meta = _split(tmp_path / "meta", ids, [0, 1])
    save_scoremap(tmp_path / "maps", "a.jpg", _blob(224, 80, 80))
    np.save(tmp_path / "maps" / "b.npy", (_blob(224, 80, 80) * 255).astype(np.uint8))
    out = tmp_path / "out" / "metrics.json"
    err = _cli_error(["evaluate-scoremaps", "--scoremaps", str(tmp_path / "maps"), "--metadata",
                      str(meta), "--quiet", "--workers", "1", "--output", str(out)], capsys)
    assert str(tmp_path / "maps" / "b.npy") in err and "dtype uint8" in err and "255" in err
    assert not out.exists() and not out.parent.exists()  # nothing half-written


def test_class_id_out_of_range_is_named_at_load_time(tmp_path):
    meta = _split(tmp_path / "test", ["a.jpg", "b.jpg", "c.jpg"], [0, 2, 7])
    load_wsol_metadata(meta)  # unbounded: fine
    with pytest.raises(MetadataError, match=r"class_labels.txt:3: class id 7 out of range "
                                            r"\(must be \[0, 3\)\)"):
        load_wsol_metadata(meta, num_classes=3)


def test_training_data_bounds_class_ids_by_the_models_classes(tmp_path):
    """``moana evaluate`` and ``fit`` load every split bounded by the model's classes."""
    from moana.train import load_config
    from moana.train.prepare import PreparedData

    ids = ["a.png", "b.png", "c.png"]
    _images(tmp_path / "images", ids)
    dirs = {s: _split(tmp_path / "meta" / s, ids, [0, 1, 2]) for s in ("train", "val")}
    dirs["test"] = _split(tmp_path / "meta" / "test", ids, [0, 1, 7])
    data = PreparedData(load_config("smoke_cam"), tmp_path / "images", dirs, None, 3)
    assert len(data.dataset("val")) == 3
    with pytest.raises(ValueError, match=r"test/class_labels.txt:3: class id 7 out of range"):
        data.dataset("test")


def test_non_utf8_and_non_finite_metadata_name_file_and_line(tmp_path):
    meta = _split(tmp_path / "a", ["a.jpg", "b.jpg"], [0, 1],
                  raw={"class_labels.txt": "a.jpg,0\nb\xe9.jpg,1\n".encode("latin-1")})
    with pytest.raises(MetadataError, match=r"class_labels.txt:2: not UTF-8 text"):
        load_wsol_metadata(meta)
    meta = _split(tmp_path / "b", ["a.jpg"], [0],
                  raw={"localization.txt": b"a.jpg,1,1,inf,20\n"})
    with pytest.raises(MetadataError, match=r"localization.txt:1: box coordinates must be numbers"):
        load_wsol_metadata(meta)
    # data check collects them instead of stopping at the first
    meta = _split(tmp_path / "c", ["a.jpg"], [0], raw={"image_ids.txt": b"a\xff.jpg\n"})
    text = "\n".join(check_wsol_split(tmp_path, meta, images=False))
    assert "image_ids.txt:1: not UTF-8 text" in text


def test_broken_cls_labels_names_the_file(tmp_path):
    bad = tmp_path / "cls_labels.npy"
    bad.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(MetadataError, match="cls_labels.npy"):
        load_cls_labels(bad)
    save_cls_labels(bad, {"2007_000001": np.full(20, 0.5)}, int_keys=False)
    with pytest.raises(MetadataError, match=r"cls_labels.npy: label of '2007_000001' holds"):
        load_cls_labels(bad)


# --------------------------------------------------------------------------- kind 2
@pytest.mark.parametrize("value, word", [(np.inf, "+inf"), (-np.inf, "-inf"), (np.nan, "NaN")])
def test_non_finite_cams_follow_the_nan_policy(value, word):
    cam = np.random.default_rng(0).random((7, 7))
    cam[3, 4] = value
    with pytest.raises(ValueError, match=f"CAM of x contains {word.replace('+', '[+]')}"):
        normalize_scoremap(cam, nan_policy="raise", name="CAM of x")
    with pytest.warns(RuntimeWarning, match="all-zero"):
        out = normalize_scoremap(cam, nan_policy="warn")
    assert not out.any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not normalize_scoremap(cam, nan_policy="zeros").any()
    with pytest.raises(ValueError, match="contains"):  # resize first: still caught
        scoremap_from_cam(cam, size=(16, 16), nan_policy="raise")
    with pytest.warns(RuntimeWarning):
        out = scoremap_from_cam(cam, size=(16, 16), nan_policy="warn")
    assert out.shape == (16, 16) and np.isfinite(out).all() and not out.any()


def test_non_finite_scoremap_rejected_by_evaluators():
    from moana.data.metadata import WSOLMetadata

    meta = WSOLMetadata(directory=Path("mem"), image_ids=["a"], class_labels={"a": 0},
                        image_sizes={"a": (8, 8)}, boxes={"a": [(1, 1, 5, 5)]})
    m = np.zeros((8, 8))
    m[2, 2] = np.inf
    with pytest.raises(ValueError, match=r"score map of a contains \+inf at 1 pixel"):
        BoxEvaluator(meta, [0.5], image_size=8).accumulate(m, "a")
    with pytest.raises(ValueError, match="contains"):
        check_scoremap(-m)


# --------------------------------------------------------------------------- kind 3
def test_ids_are_verbatim(tmp_path):
    lst = tmp_path / "train.txt"
    lst.write_text("field.photo-7\nx.1\nx.2\n2007_000032.jpg\n"
                   "/JPEGImages/2007_000033.jpg /SegmentationClassAug/2007_000033.png\n"
                   "shot.JPEG\nscan.png 1\nweird.tif\n")
    assert read_id_list(lst) == ["field.photo-7", "x.1", "x.2", "2007_000032", "2007_000033",
                                 "shot", "scan", "weird.tif"]
    assert id_from_token(r"C:\voc\JPEGImages\a.b.jpg") == "a.b"
    root = tmp_path / "voc"
    (root / "JPEGImages").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / "JPEGImages" / "field.photo-7.jpg")
    one = tmp_path / "one.txt"
    one.write_text("field.photo-7\n")
    labels = {"field.photo-7": np.eye(20, dtype=np.float32)[3]}
    ds = VOCClassification(root, one, labels)
    assert ds[0][2] == "field.photo-7" and ds[0][1][3] == 1
    dup = tmp_path / "dup.txt"
    dup.write_text("a.jpg\n\na\n")
    with pytest.raises(MetadataError, match=r"dup.txt:3: duplicated id 'a' \(first on line 1\)"):
        read_id_list(dup)


# --------------------------------------------------------------------------- kind 4
def test_bom_crlf_and_trailing_blank_lines(tmp_path):
    ids = ["a.png", "b.png"]
    bom = codecs.BOM_UTF8
    crlf = {name: bom + text.replace("\n", "\r\n").encode() + b"\r\n\r\n"
            for name, text in {
                "image_ids.txt": "a.png\nb.png\n",
                "class_labels.txt": "a.png,0\nb.png,1\n",
                "image_sizes.txt": "a.png,40,40\nb.png,40,40\n",
                "localization.txt": "a.png,5,5,35,35\nb.png,5,5,35,35\n"}.items()}
    meta = _split(tmp_path / "meta", ids, [0, 1], raw=crlf)
    loaded = load_wsol_metadata(meta)
    assert loaded.image_ids == ids and loaded.class_labels == {"a.png": 0, "b.png": 1}
    assert loaded.boxes["a.png"] == [(5, 5, 35, 35)]
    assert check_wsol_split(_images(tmp_path / "img", ids), meta) == []
    lst = tmp_path / "list.txt"
    lst.write_bytes(bom + b"2007_000001\r\n2007_000002\r\n\r\n")
    assert read_id_list(lst) == ["2007_000001", "2007_000002"]


# --------------------------------------------------------------------------- kind 5
def test_data_check_decodes_and_summarizes(tmp_path, capsys):
    ids = ["a.jpg", "b.jpg", "c.jpg"]
    images = _images(tmp_path / "img", ids)
    noise = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(noise).save(images / "b.jpg", quality=95)
    full = (images / "b.jpg").read_bytes()
    (images / "b.jpg").write_bytes(full[: int(len(full) * 0.7)])  # truncated: header intact
    meta = _split(tmp_path / "meta" / "test", ids, [0, 1, 0])
    base = ["data", "check", "--data-root", str(images), "--metadata", str(meta.parent), "--quiet"]
    assert cli_main(base + ["--no-decode"]) == 0  # a header check cannot see it
    out = capsys.readouterr().out
    assert "no problems found" in out and "headers only" in out
    assert cli_main(base + ["--workers", "2"]) == 1
    captured = capsys.readouterr()
    assert f"image_ids.txt:2: corrupt image {images / 'b.jpg'}" in captured.out
    assert ("checked 1 split(s)/list(s): 3 image(s) (decoded), 3 box(es), 0 mask(s)"
            in captured.out)
    assert "1 problem(s)" in captured.err


# --------------------------------------------------------------------------- kind 6
def test_voc_segmentation_rejects_values_that_are_not_classes(tmp_path):
    root = tmp_path / "voc"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    for image_id, value in (("ok", 20), ("bad", 37)):
        Image.new("RGB", (6, 4)).save(root / "JPEGImages" / f"{image_id}.jpg")
        label = np.zeros((4, 6), np.uint8)
        label[0, 0], label[1, 1] = value, 255
        Image.fromarray(label, mode="L").save(root / "SegmentationClass" / f"{image_id}.png")
    ds = VOCSegmentation(root, ["ok", "bad"])
    assert ds[0][1].max() == 255 and 20 in ds[0][1]
    path = root / "SegmentationClass" / "bad.png"
    with pytest.raises(ValueError, match=rf"label map {path} holds values \[37\] that are not"):
        ds[1]


# --------------------------------------------------------------------------- kind 7
def _maps_split(tmp_path: Path, size: int) -> tuple[Path, Path]:
    ids = ["c/a.jpg", "c/b.jpg"]
    meta = _split(tmp_path / "meta", ids, [0, 1], size=(80, 60))
    for k, image_id in enumerate(ids):
        save_scoremap(tmp_path / "maps", image_id, _blob(size, size * (0.3 + 0.3 * k), size / 2))
    return meta, tmp_path / "maps"


def test_scoremaps_at_the_runs_own_size(tmp_path, capsys):
    meta, maps = _maps_split(tmp_path, 64)
    argv = ["evaluate-scoremaps", "--scoremaps", str(maps), "--metadata", str(meta), "--quiet",
            "--workers", "1", "--step", "0.01"]
    assert cli_main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["image_size"] == 64
    # the same numbers as evaluating in Python with the ground truth rescaled to 64
    ev = BoxEvaluator(load_wsol_metadata(meta), step=0.01, image_size=64)
    for image_id in ("c/a.jpg", "c/b.jpg"):
        ev.accumulate(np.load(maps / (image_id[:-4] + ".npy")), image_id)
    assert result["MaxBoxAccV2"] == ev.compute()["MaxBoxAccV2"]
    err = _cli_error(argv + ["--image-size", "224"], capsys)
    assert str(maps / "c" / "a.npy") in err and "64x64 but 224x224" in err
    assert "--image-size" in err


def test_scoremap_messages_name_the_npy_file(tmp_path, capsys):
    meta, maps = _maps_split(tmp_path, 32)
    argv = ["evaluate-scoremaps", "--scoremaps", str(maps), "--metadata", str(meta), "--quiet",
            "--workers", "1"]
    broken = _blob(32, 10, 10)
    broken[4, 4] = np.nan
    np.save(maps / "c" / "b.npy", broken)
    err = _cli_error(argv, capsys)
    assert f"{maps / 'c' / 'b.npy'} (score map of c/b.jpg) contains NaN" in err
    np.save(maps / "c" / "b.npy", _blob(32, 10, 10) * 2)
    assert "must be in [0, 1]" in _cli_error(argv, capsys)
    np.save(maps / "c" / "b.npy", _blob(48, 10, 10))
    err = _cli_error(argv, capsys)
    assert f"{maps / 'c' / 'b.npy'}: score map is 48x48 but 32x32 is expected" in err
    assert "from the first map" in err
    np.save(maps / "c" / "a.npy", np.zeros((32, 20)))
    assert "must be square" in _cli_error(argv, capsys)


# --------------------------------------------------------------------------- kind 8a
def test_partial_accumulation_is_refused_unless_allowed(tmp_path):
    from moana.data.metadata import WSOLMetadata

    ids = [f"i{k}" for k in range(4)]
    meta = WSOLMetadata(directory=Path("mem"), image_ids=ids, class_labels=dict.fromkeys(ids, 0),
                        image_sizes=dict.fromkeys(ids, (16, 16)),
                        boxes={i: [(2, 2, 12, 12)] for i in ids},
                        masks={i: ["m.png"] for i in ids}, ignore=dict.fromkeys(ids))
    Image.fromarray(np.pad(np.full((8, 8), 255, np.uint8), 4)).save(tmp_path / "m.png")
    box = BoxEvaluator(meta, [0.2, 0.5], image_size=16)
    mask = MaskEvaluator(meta, tmp_path, [0.2, 0.5], image_size=16)
    for image_id in ids[:2]:
        box.accumulate(_blob(16, 8, 8), image_id)
        mask.accumulate(_blob(16, 8, 8), image_id)
    for evaluator, what in ((box, "boxes"), (mask, "masks")):
        with pytest.raises(ValueError, match=rf"only 2 of the 4 images with {what} in mem were "
                                             r"accumulated \(missing e.g. \['i2', 'i3'\]\)"):
            evaluator.compute()
        result = evaluator.compute(allow_partial=True)
        assert result["partial"] and result["num_images"] == 2 and result["num_expected"] == 4
    with pytest.raises(ValueError, match="accumulated twice"):
        mask.accumulate(_blob(16, 8, 8), "i0")
    for image_id in ids[2:]:
        box.accumulate(_blob(16, 8, 8), image_id)
        mask.accumulate(_blob(16, 8, 8), image_id)
    assert "partial" not in box.compute() and "partial" not in mask.compute()


# --------------------------------------------------------------------------- kind 10a
@pytest.mark.parametrize("axes", ["chw", "c", "hw"])
def test_moana_batch_of_one_in_training(axes):
    from moana.nn import MoANA

    module = MoANA(4, axes=axes)
    x = torch.randn(1, 4, 1, 1) if axes == "hw" else torch.randn(1, 4, 5, 5)
    with pytest.raises(ValueError, match="MoANA's BatchNorm needs a batch of at least 2 in "
                                         r"training mode, got input of shape \(1, 4"):
        module(x)
    module.eval()
    assert module(x).shape == x.shape
    module.train()
    assert module(torch.cat([x, x])).shape[0] == 2


# --------------------------------------------------------------------------- small cases
def test_small_cli_cases_name_what_is_wrong(tmp_path, capsys):
    meta, maps = _maps_split(tmp_path, 32)
    err = _cli_error(["evaluate-scoremaps", "--scoremaps", str(maps), "--metadata", str(meta),
                      "--quiet", "--image-size", "0"], capsys)
    assert "--image-size must be a positive number" in err
    err = _cli_error(["data", "check", "--data-root", str(tmp_path / "absent"), "--metadata",
                      str(meta), "--quiet"], capsys)
    assert f"--data-root {tmp_path / 'absent'} is not a folder" in err


def test_corrupt_mask_png_is_named(tmp_path):
    from moana.metrics.masks import load_mask

    (tmp_path / "m.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match=f"mask image {tmp_path / 'm.png'} is corrupt"):
        load_mask(tmp_path / "m.png")
    with pytest.raises(FileNotFoundError, match="is missing"):
        load_mask(tmp_path / "none.png")
