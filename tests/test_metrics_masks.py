"""PxAP (wsolevaluation's MaskEvaluator) and PIoU on hand-worked and file-based examples."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from moana.data.metadata import WSOLMetadata
from moana.metrics import MaskEvaluator, ground_truth_mask
from moana.metrics.reference import reference_pxap


def _meta(masks, ignore, directory=Path("mem")):
    ids = list(masks)
    return WSOLMetadata(directory=directory, image_ids=ids, class_labels={i: 0 for i in ids},
                        masks=masks, ignore=ignore)


def test_pxap_hand_worked(tmp_path):
    # thresholds [0, .5] -> bins [0,.5) [.5,1) [1,2) [2,3]
    # fg scores .9 .6 .2 ; bg .7 .1 .1 ; ignored .95
    # tp = [0,0,2,3], fp = [0,0,1,3], fn = [3,3,1,0] (reversed order)
    # AP = 2/3 * 2/3 + 1/2 * 1/3 = 11/18 ; IoU = [0,0,1/2,1/2]
    scores = np.array([[0.9, 0.6, 0.2, 0.95], [0.7, 0.1, 0.1, 0.0]])
    gt = np.array([[1, 1, 1, 255], [0, 0, 0, 255]], dtype=np.uint8)
    ev = MaskEvaluator(_meta({"a": ["m.png"]}, {"a": None}), tmp_path, [0.0, 0.5])
    ev.accumulate_with_mask(scores, gt)
    r = ev.compute()
    assert r["PxAP"] == pytest.approx(1100 / 18)
    assert r["PIoU"] == pytest.approx(50.0) and r["PIoU_threshold"] == 0.5
    assert r["PxAP"] == pytest.approx(reference_pxap([scores], [gt], [0.0, 0.5]))


def test_ground_truth_mask_from_files(tmp_path):
    fg1 = np.zeros((448, 448), np.uint8)
    fg1[0:200, 0:200] = 255
    fg2 = np.zeros((448, 448), np.uint8)
    fg2[300:, 300:] = 255
    ignore = np.zeros((448, 448), np.uint8)
    ignore[100:400, 100:400] = 255
    (tmp_path / "c").mkdir()
    for name, img in {"c/f1.png": fg1, "c/f2.png": fg2, "c/ign.png": ignore}.items():
        cv2.imwrite(str(tmp_path / name), img)
    gt = ground_truth_mask(tmp_path, ["c/f1.png", "c/f2.png"], "c/ign.png")
    assert gt.shape == (224, 224) and gt.dtype == np.uint8
    assert gt[10, 10] == 1 and gt[200, 200] == 1  # instances OR-ed
    assert gt[99, 99] == 1  # fg wins over ignore
    assert gt[120, 60] == 255 and gt[60, 210] == 0
    assert set(np.unique(gt)) == {0, 1, 255}
    with pytest.raises(FileNotFoundError, match="nope.png"):
        ground_truth_mask(tmp_path, ["nope.png"], None)

    rng = np.random.default_rng(0)
    maps = [rng.random((224, 224)) for _ in range(2)]
    meta = _meta({"a": ["c/f1.png"], "b": ["c/f1.png", "c/f2.png"]}, {"a": "c/ign.png", "b": None})
    ths = np.arange(0, 1, 0.01)
    ev = MaskEvaluator(meta, tmp_path, ths)
    for i, m in zip(["a", "b"], maps):
        ev.accumulate(m, i)
    gts = [ground_truth_mask(tmp_path, ["c/f1.png"], "c/ign.png"),
           ground_truth_mask(tmp_path, ["c/f1.png", "c/f2.png"], None)]
    assert ev.compute()["PxAP"] == reference_pxap(maps, gts, ths)


def test_perfect_map_pxap_100(tmp_path):
    gt = np.zeros((224, 224), np.uint8)
    gt[50:100, 50:150] = 1
    ev = MaskEvaluator(_meta({"a": ["x"]}, {"a": None}), tmp_path, step=0.001)
    ev.accumulate_with_mask(gt.astype(np.float64), gt)
    r = ev.compute()
    assert r["PxAP"] == pytest.approx(100.0) and r["PIoU"] == pytest.approx(100.0)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="no masks"):
        MaskEvaluator(_meta({}, {}), tmp_path)
    with pytest.raises(FileNotFoundError):
        MaskEvaluator(_meta({"a": ["x"]}, {}), tmp_path / "absent")
    ev = MaskEvaluator(_meta({"a": ["x"]}, {}), tmp_path, [0.0, 0.5])
    with pytest.raises(ValueError, match="NaN"):
        ev.accumulate_with_mask(np.full((2, 2), np.nan), np.ones((2, 2), np.uint8))
    with pytest.raises(ValueError, match="no score map"):
        ev.compute()
    ev.accumulate_with_mask(np.zeros((2, 2)), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="positive ground-truth"):
        ev.compute()
