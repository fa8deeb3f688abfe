"""``moana evaluate-scoremaps`` on a tiny hand-written wsolevaluation split."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from moana.cam import save_scoremap
from moana.cli import main
from moana.metrics.reference import reference_max_box_acc, reference_pxap
from moana.metrics.masks import ground_truth_mask


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def test_evaluate_scoremaps_boxes(tmp_path, capsys):
    meta = tmp_path / "meta" / "test"
    ids = ["c1/a.jpg", "c1/b.jpg", "c2/c.jpg"]
    sizes = {"c1/a.jpg": (448, 448), "c1/b.jpg": (300, 200), "c2/c.jpg": (224, 224)}
    boxes = {"c1/a.jpg": [(40, 40, 200, 240)], "c1/b.jpg": [(10, 10, 150, 100), (200, 20, 290, 190)],
             "c2/c.jpg": [(100, 100, 200, 200)]}
    _write(meta / "image_ids.txt", ids)
    _write(meta / "class_labels.txt", [f"{i},{n}" for n, i in enumerate(ids)])
    _write(meta / "image_sizes.txt", [f"{i},{w},{h}" for i, (w, h) in sizes.items()])
    _write(meta / "localization.txt", [f"{i},{x0},{y0},{x1},{y1}"
                                       for i, bs in boxes.items() for x0, y0, x1, y1 in bs])
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:224, :224]
    maps = []
    for k, i in enumerate(ids):
        m = np.exp(-((xx - 60 - 40 * k) ** 2 + (yy - 90) ** 2) / 2000.0) + 0.05 * rng.random((224, 224))
        m = (m - m.min()) / (m.max() - m.min())
        maps.append(m)
        save_scoremap(tmp_path / "maps", i, m)
    out = tmp_path / "out" / "metrics.json"
    assert main(["evaluate-scoremaps", "--scoremaps", str(tmp_path / "maps"), "--metadata", str(meta),
                 "--step", "0.01", "--workers", "1", "--quiet", "--output", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())

    from moana.metrics.common import resize_box
    gt = [[resize_box(b, sizes[i]) for b in boxes[i]] for i in ids]
    ths = np.arange(0, 1, 0.01)
    single = reference_max_box_acc(maps, gt, ths, (30, 50, 70), multi_contour=False)
    multi = reference_max_box_acc(maps, gt, ths, (30, 50, 70), multi_contour=True)
    assert printed["MaxBoxAcc"] == single[50].max()
    assert printed["MaxBoxAccV2"] == np.mean([multi[d].max() for d in (30, 50, 70)])
    assert printed["all_contours"]["MaxBoxAcc@70"] == multi[70].max()


def test_evaluate_scoremaps_masks(tmp_path, capsys):
    meta = tmp_path / "meta"
    masks = tmp_path / "masks"
    ids = ["x/1.jpg", "x/2.jpg"]
    fg = np.zeros((100, 100), np.uint8)
    fg[20:60, 30:80] = 255
    ign = np.zeros((100, 100), np.uint8)
    ign[10:70, 20:90] = 255
    (masks / "x").mkdir(parents=True)
    cv2.imwrite(str(masks / "x" / "1_m.png"), fg)
    cv2.imwrite(str(masks / "x" / "1_ignore.png"), ign)
    _write(meta / "image_ids.txt", ids)
    _write(meta / "class_labels.txt", [f"{i},0" for i in ids])
    _write(meta / "image_sizes.txt", [])
    _write(meta / "localization.txt", [f"{i},x/1_m.png,x/1_ignore.png" for i in ids])
    rng = np.random.default_rng(1)
    maps = [rng.random((224, 224)) for _ in ids]
    for i, m in zip(ids, maps):
        save_scoremap(tmp_path / "maps", i, m)
    args = ["evaluate-scoremaps", "--scoremaps", str(tmp_path / "maps"), "--metadata", str(meta),
            "--step", "0.01", "--quiet"]
    assert main(args) == 1  # masks need --mask-root
    assert "--mask-root" in capsys.readouterr().err
    assert main(args + ["--mask-root", str(masks)]) == 0
    printed = json.loads(capsys.readouterr().out)
    gt = ground_truth_mask(masks, ["x/1_m.png"], "x/1_ignore.png")
    assert printed["PxAP"] == pytest.approx(reference_pxap(maps, [gt, gt], np.arange(0, 1, 0.01)))
    assert 0 <= printed["PIoU"] <= 100


def test_missing_scoremap_is_a_clear_error(tmp_path, capsys):
    meta = tmp_path / "meta"
    _write(meta / "image_ids.txt", ["a.jpg"])
    _write(meta / "class_labels.txt", ["a.jpg,0"])
    _write(meta / "image_sizes.txt", ["a.jpg,10,10"])
    _write(meta / "localization.txt", ["a.jpg,1,1,5,5"])
    (tmp_path / "maps").mkdir()
    assert main(["evaluate-scoremaps", "--scoremaps", str(tmp_path / "maps"), "--metadata",
                 str(meta), "--quiet", "--workers", "1"]) == 1
    assert "a.npy" in capsys.readouterr().err


def test_default_workers_and_two_workers_give_the_same_json(tmp_path, capsys):
    """--workers defaults to None (moana.metrics.streaming.default_workers: 1 for a small
    split, else one per CPU); any count gives the same numbers and curves."""
    from moana.cli import build_parser

    argv = ["evaluate-scoremaps", "--scoremaps", "m", "--metadata", "t"]
    assert build_parser(argv).parse_args(argv).workers is None
    meta = tmp_path / "meta" / "test"
    ids = [f"c{k % 2}/{k}.jpg" for k in range(6)]
    _write(meta / "image_ids.txt", ids)
    _write(meta / "class_labels.txt", [f"{i},{n % 2}" for n, i in enumerate(ids)])
    _write(meta / "image_sizes.txt", [f"{i},224,224" for i in ids])
    _write(meta / "localization.txt", [f"{i},{20 + 10 * n},30,{150 + 10 * n},200"
                                       for n, i in enumerate(ids)])
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:224, :224]
    for n, i in enumerate(ids):
        m = np.exp(-((xx - 80 - 12 * n) ** 2 + (yy - 110) ** 2) / 1500.0) + 0.1 * rng.random((224, 224))
        save_scoremap(tmp_path / "maps", i, (m - m.min()) / (m.max() - m.min()))
    printed = []
    for workers in ([], ["--workers", "2"]):
        assert main(["evaluate-scoremaps", "--scoremaps", str(tmp_path / "maps"), "--metadata",
                     str(meta), "--step", "0.01", "--curves", "--quiet", *workers]) == 0
        printed.append(json.loads(capsys.readouterr().out))
    assert printed[0] == printed[1]
    assert printed[0]["all_contours"]["curves"]


def _box_split(meta, ids, size=64):
    _write(meta / "image_ids.txt", ids)
    _write(meta / "class_labels.txt", [f"{i},0" for i in ids])
    _write(meta / "image_sizes.txt", [f"{i},{size},{size}" for i in ids])
    _write(meta / "localization.txt", [f"{i},{8 + 4 * k},10,{40 + 4 * k},50"
                                       for k, i in enumerate(ids)])


@pytest.mark.parametrize("depth", [8, 16])
def test_png_scoremaps_score_like_npy(tmp_path, capsys, depth):
    meta = tmp_path / "meta"
    ids = ["c/a.jpg", "c/b.jpg", "d.jpg"]
    _box_split(meta, ids)
    dtype, top = (np.uint8, 255) if depth == 8 else (np.uint16, 65535)
    yy, xx = np.mgrid[:64, :64]
    rng = np.random.default_rng(depth)
    for k, i in enumerate(ids):
        blob = np.exp(-((xx - 24 - 4 * k) ** 2 + (yy - 30) ** 2) / 150.0) + 0.1 * rng.random((64, 64))
        png = np.round(blob / blob.max() * top).astype(dtype)
        stem = i.rsplit(".", 1)[0]
        (tmp_path / "png" / stem).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(tmp_path / "png" / (stem + ".png")), png)
        save_scoremap(tmp_path / "npy", i, png / top)  # the PNG's values, as float
    results = []
    for folder in ("png", "npy"):
        assert main(["evaluate-scoremaps", "--scoremaps", str(tmp_path / folder), "--metadata",
                     str(meta), "--step", "0.01", "--workers", "1", "--quiet"]) == 0
        printed = json.loads(capsys.readouterr().out)
        printed.pop("scoremaps")
        results.append(printed)
    assert results[0] == results[1]
    assert 0 < results[0]["MaxBoxAccV2"] <= 100


def test_png_scoremap_errors_name_the_file(tmp_path, capsys):
    meta = tmp_path / "meta"
    _box_split(meta, ["a.jpg"])
    maps = tmp_path / "maps"
    maps.mkdir()
    args = ["evaluate-scoremaps", "--scoremaps", str(maps), "--metadata", str(meta), "--quiet",
            "--workers", "1"]
    cv2.imwrite(str(maps / "a.png"), np.zeros((64, 64, 3), np.uint8))  # colour, not grayscale
    assert main(args) == 1
    assert "a.png" in (err := capsys.readouterr().err) and "grayscale" in err
    cv2.imwrite(str(maps / "a.png"), np.zeros((64, 64), np.uint8))
    np.save(maps / "a.npy", np.zeros((64, 64)))
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "a.npy" in err and "a.png" in err
