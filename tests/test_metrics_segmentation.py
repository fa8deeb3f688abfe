"""VOC mIoU from one confusion matrix, IRN's CAM -> label conversion and the threshold sweep."""

from __future__ import annotations

import numpy as np
import pytest

from moana.metrics import SegmentationConfusion, ThresholdSweep, cams_to_segmentation


def _miou_by_loops(preds, gts, num_classes=21, ignore=255):
    """Independent count: per class, |pred=c & gt=c| / |pred=c or gt=c| over non-ignored pixels."""
    ious = []
    for c in range(num_classes):
        inter = union = 0
        for p, g in zip(preds, gts):
            for pv, gv in zip(p.ravel().tolist(), g.ravel().tolist()):
                if gv == ignore:
                    continue
                inter += pv == c and gv == c
                union += pv == c or gv == c
        ious.append(inter / union if union else np.nan)
    return np.array(ious)


def test_miou_matches_loops():
    rng = np.random.default_rng(0)
    preds, gts = [], []
    conf = SegmentationConfusion(21)
    for _ in range(3):
        g = rng.integers(0, 6, (12, 9))
        g[rng.random(g.shape) < 0.2] = 255
        p = rng.integers(0, 7, (12, 9))
        conf.update(p, g)
        preds.append(p)
        gts.append(g)
    expected = _miou_by_loops(preds, gts)
    np.testing.assert_allclose(conf.iou_per_class(), expected)
    assert conf.miou() == pytest.approx(np.nanmean(expected))
    assert conf.matrix.sum() == sum(int((g != 255).sum()) for g in gts)


def test_confusion_rejects_bad_labels():
    conf = SegmentationConfusion(21)
    with pytest.raises(ValueError, match="shape"):
        conf.update(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="ground-truth"):
        conf.update(np.zeros((2, 2), int), np.full((2, 2), 30))
    with pytest.raises(ValueError, match="predicted"):
        conf.update(np.full((2, 2), 21), np.zeros((2, 2), int))


def test_cams_to_segmentation_irn():
    cams = np.array([[[0.1, 0.8], [0.5, 0.2]], [[0.3, 0.4], [0.2, 0.2]]])
    seg = cams_to_segmentation(cams, [4, 11], bg_threshold=0.25)
    # pixel (0,0): bg .25 < class 11 .3 ; (0,1): class 4 ; (1,0): class 4 ; (1,1): tie -> bg
    assert seg.tolist() == [[12, 5], [5, 0]]
    with pytest.raises(ValueError):
        cams_to_segmentation(cams, [4], 0.2)


def test_threshold_sweep_equals_per_threshold():
    rng = np.random.default_rng(1)
    thresholds = np.arange(0.05, 0.95, 0.05)
    sweep = ThresholdSweep(thresholds, num_classes=21)
    per = [SegmentationConfusion(21) for _ in thresholds]
    for _ in range(4):
        k = int(rng.integers(0, 3))
        ids = sorted(rng.choice(20, k, replace=False).tolist())
        cams = np.round(rng.random((k, 10, 11)), 2)  # rounding creates ties with thresholds
        gt = rng.choice([0, *(c + 1 for c in ids), 255], (10, 11))
        sweep.update(cams, ids, gt)
        for t, conf in zip(thresholds, per):
            conf.update(cams_to_segmentation(cams, ids, t), gt)
    got = sweep.confusions()
    for i, conf in enumerate(per):
        np.testing.assert_array_equal(got[i], conf.matrix)
    np.testing.assert_allclose(sweep.miou(), [c.miou() for c in per])
    t, score = sweep.best()
    assert score == max(c.miou() for c in per)
