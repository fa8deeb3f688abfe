"""MaxBoxAcc / MaxBoxAccV2: hand-computed cases and exact equality with the reference path."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moana.data.metadata import WSOLMetadata
from moana.metrics import BoxEvaluator, topk_localization
from moana.metrics.boxes import best_iou_per_threshold, quantize
from moana.metrics.common import resize_box
from moana.metrics.reference import (
    reference_box_correct,
    reference_boxes,
    reference_iou,
    reference_max_box_acc,
)

S = 224


def metadata_for(boxes: dict[str, list[tuple[int, int, int, int]]], size=(S, S)) -> WSOLMetadata:
    ids = list(boxes)
    return WSOLMetadata(
        directory=Path("mem"),
        image_ids=ids,
        class_labels={i: 0 for i in ids},
        image_sizes={i: size for i in ids},
        boxes=boxes,
    )


def blob_map(rng: np.random.Generator, size: int = S, noise: float = 0.15) -> np.ndarray:
    """Random Gaussian blobs plus pixel noise, min-max normalized like a CAM."""
    yy, xx = np.mgrid[:size, :size]
    m = np.zeros((size, size))
    for _ in range(rng.integers(1, 5)):
        cx, cy = rng.uniform(0, size, 2)
        s = rng.uniform(size / 40, size / 4)
        m += rng.uniform(0.3, 1) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    m += noise * rng.random((size, size))
    m -= m.min()
    return m / m.max()


def evaluate(maps, boxes, thresholds, multi=True, size=(S, S)):
    meta = metadata_for(boxes, size)
    ev = BoxEvaluator(meta, thresholds, multi_contour=multi)
    for image_id, m in zip(boxes, maps):
        ev.accumulate(m, image_id)
    return ev, ev.compute()


def fast_vs_reference(m, gt, thresholds, multi):
    fast = best_iou_per_threshold(quantize(m), np.asarray(gt), np.asarray(thresholds), multi)
    slow = np.array([reference_iou(b, np.asarray(gt)).max()
                     for b in reference_boxes(m, thresholds, multi)])
    np.testing.assert_array_equal(fast, slow)


# --- hand-computed cases ------------------------------------------------------------------
def test_perfect_map_is_100_percent():
    m = np.zeros((S, S))
    m[50:101, 60:121] = 1.0  # pixels x 60..120, y 50..100
    _, r = evaluate([m], {"a": [(60, 50, 120, 100)]}, np.arange(0, 1, 0.01))
    # boundingRect gives x1 = 121, y1 = 101 (exclusive end): IoU = 61*51 / (62*52) = 0.965
    assert r["MaxBoxAcc"] == 100.0 and r["MaxBoxAccV2"] == 100.0
    fast_vs_reference(m, [(60, 50, 120, 100)], np.arange(0, 1, 0.01), True)


def test_all_zero_map_gives_box_0000():
    m = np.zeros((S, S))
    # the single box [0,0,0,0] (1 pixel) matches a 1-pixel GT box at the origin
    _, r = evaluate([m, m], {"a": [(0, 0, 0, 0)], "b": [(10, 10, 50, 50)]}, [0.0, 0.5])
    assert r["MaxBoxAcc@50"] == 50.0
    assert r["curves"]["50"] == [50.0, 50.0]


def test_nan_map_is_rejected():
    m = np.full((S, S), np.nan)
    ev = BoxEvaluator(metadata_for({"a": [(0, 0, 10, 10)]}), [0.5])
    with pytest.raises(ValueError, match="NaN"):
        ev.accumulate(m, "a")


def test_out_of_range_and_shape_rejected():
    ev = BoxEvaluator(metadata_for({"a": [(0, 0, 10, 10)]}), [0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ev.accumulate(np.full((S, S), 1.5), "a")
    with pytest.raises(ValueError, match="shape"):
        ev.accumulate(np.zeros((10, 10)), "a")
    with pytest.raises(KeyError):
        ev.accumulate(np.zeros((S, S)), "missing")


def test_ring_with_hole_counts_hole_contour():
    m = np.zeros((S, S))
    m[40:141, 40:141] = 1.0
    m[60:121, 60:121] = 0.0  # hole: pixels 60..120; hole contour box = 59..121
    gt = [(59, 59, 121, 121)]
    ths = [0.5]
    multi = reference_box_correct(m, gt, ths, (50, 70, 90), multi_contour=True)
    single = reference_box_correct(m, gt, ths, (50, 70, 90), multi_contour=False)
    assert multi[90].all()  # only the hole contour's box fits the GT that well
    assert not single[70].any()  # the outer box 40..141: IoU = 63^2/102^2 = 0.38
    fast_vs_reference(m, gt, ths, True)
    fast_vs_reference(m, gt, ths, False)
    _, r = evaluate([m], {"a": gt}, ths, multi=True)
    assert r["MaxBoxAcc@70"] == 100.0


def test_two_gt_boxes_best_match_counts():
    m = np.zeros((S, S))
    m[150:201, 150:201] = 1.0
    gt = [(10, 10, 60, 60), (150, 150, 200, 200)]
    _, r = evaluate([m], {"a": gt}, [0.5])
    assert r["MaxBoxAcc@70"] == 100.0


def test_box_touching_border_is_clipped():
    m = np.zeros((S, S))
    m[100:, 200:] = 1.0  # reaches the right and bottom edges
    boxes = reference_boxes(m, [0.5], True)[0]
    assert boxes.tolist() == [[200, 100, S - 1, S - 1]]
    fast_vs_reference(m, [(200, 100, 223, 223)], [0.5], True)
    fast_vs_reference(m, [(200, 100, 223, 223)], [0.5], False)


def test_one_pixel_wide_line():
    m = np.zeros((S, S))
    m[80, 30:170] = 1.0
    m[10:200, 5] = 0.6
    gt = [(30, 80, 169, 80)]
    assert reference_boxes(m, [0.7], False)[0].tolist() == [[30, 80, 170, 81]]
    for multi in (True, False):
        fast_vs_reference(m, gt, [0.0, 0.3, 0.7], multi)


def test_gt_boxes_are_resized_with_truncation():
    assert resize_box((10, 20, 300, 400), (500, 450)) == (4, 9, 134, 199)
    meta = metadata_for({"a": [(10, 20, 300, 400)]}, size=(500, 450))
    assert BoxEvaluator(meta, [0.5]).gt_boxes["a"].tolist() == [[4, 9, 134, 199]]


def test_threshold_uses_peak_of_quantized_map():
    # reference binarizes at int(t * max(uint8 map)): a map peaking at 0.5 (127) at t=0.5 -> 63
    m = np.zeros((S, S))
    m[10:20, 10:20] = 0.5
    m[100:150, 100:150] = 0.3  # 76 > 63: on
    for multi in (True, False):
        fast_vs_reference(m, [(100, 100, 150, 150)], [0.5], multi)


def test_tie_in_contour_area_takes_first_like_reference():
    m = np.zeros((S, S))
    m[20:40, 20:40] = 1.0
    m[150:170, 100:120] = 1.0
    fast_vs_reference(m, [(100, 150, 120, 170)], [0.5], False)
    fast_vs_reference(m, [(20, 20, 40, 40)], [0.5], False)


# --- equality with the reference on random maps --------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), multi=st.booleans(), size=st.sampled_from([24, 57, 224]),
       noise=st.sampled_from([0.0, 0.05, 0.4]))
def test_fast_equals_reference_random(seed, multi, size, noise):
    rng = np.random.default_rng(seed)
    m = blob_map(rng, size, noise)
    if rng.random() < 0.3:  # crush to few levels: many ties and plateaus
        m = np.round(m * 4) / 4
    k = int(rng.integers(1, 4))
    x0 = rng.integers(0, size - 2, k)
    y0 = rng.integers(0, size - 2, k)
    gt = np.stack([x0, y0, rng.integers(x0 + 1, size), rng.integers(y0 + 1, size)], 1)
    fast_vs_reference(m, gt, np.arange(0, 1, 0.05), multi)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_fast_equals_reference_binary_noise(seed):
    """Salt-and-pepper binary images: many nested holes and islands, 8/4-connectivity corners."""
    rng = np.random.default_rng(seed)
    m = (rng.random((40, 40)) < rng.uniform(0.3, 0.7)).astype(np.float64)
    gt = np.array([[rng.integers(0, 20), rng.integers(0, 20), rng.integers(20, 40), rng.integers(20, 40)]])
    for multi in (True, False):
        fast_vs_reference(m, gt, [0.0, 0.5], multi)


def test_evaluator_matches_reference_step_0001():
    rng = np.random.default_rng(7)
    maps = [blob_map(rng, noise=0.05) for _ in range(2)]
    boxes = {f"img{i}": [(30 + 10 * i, 40, 150, 160 + 10 * i)] for i in range(2)}
    ths = np.arange(0, 1, 0.001)
    for multi in (True, False):
        ev, r = evaluate(maps, boxes, ths, multi)
        ref = reference_max_box_acc(maps, list(boxes.values()), ths, (30, 50, 70), multi)
        for d in (30, 50, 70):
            np.testing.assert_array_equal(np.array(r["curves"][str(d)]), ref[d])
            assert r[f"MaxBoxAcc@{d}"] == ref[d].max()
            assert r[f"best_threshold@{d}"] == ths[np.argmax(ref[d])]
        assert r["MaxBoxAccV2"] == np.mean([ref[d].max() for d in (30, 50, 70)])


def test_process_pool_gives_same_numbers():
    rng = np.random.default_rng(3)
    maps = [blob_map(rng, noise=0.05) for _ in range(6)]
    boxes = {f"i{i}": [(20, 20, 120, 140)] for i in range(6)}
    meta = metadata_for(boxes)
    ths = np.arange(0, 1, 0.01)
    with BoxEvaluator(meta, ths, workers=2) as pooled:
        pooled.accumulate_batch(maps, list(boxes))
        r2 = pooled.compute()
    _, r1 = evaluate(maps, boxes, ths)
    assert r1 == r2


def test_topk_localization_and_correct_at():
    m_good = np.zeros((S, S))
    m_good[20:60, 20:60] = 1.0
    boxes = {"a": [(20, 20, 59, 59)], "b": [(20, 20, 59, 59)], "c": [(150, 150, 200, 200)]}
    meta = metadata_for(boxes)
    meta.class_labels.update({"a": 1, "b": 2, "c": 3})
    ev = BoxEvaluator(meta, [0.5])
    for i in boxes:
        ev.accumulate(m_good, i)
    correct = ev.correct_at(0.5)
    assert correct == {"a": True, "b": True, "c": False}
    preds = {"a": [1, 0, 4, 5, 6], "b": [0, 1, 3, 4, 2], "c": [3, 1, 2, 4, 5]}
    r = topk_localization(correct, meta.class_labels, preds)
    assert r["top1_loc"] == pytest.approx(100 / 3)
    assert r["top5_loc"] == pytest.approx(200 / 3)


def test_empty_evaluator_and_bad_thresholds():
    meta = metadata_for({"a": [(0, 0, 5, 5)]})
    with pytest.raises(ValueError, match="no score map"):
        BoxEvaluator(meta, [0.5]).compute()
    with pytest.raises(ValueError):
        BoxEvaluator(meta, [1.5])
    assert len(BoxEvaluator(meta, step=0.01).thresholds) == 100
    assert cv2.__version__  # OpenCV >= 4 contour API (2-tuple)


def test_opencv_fallback_without_numba(monkeypatch):
    import moana.metrics.boxes as boxes_module

    monkeypatch.setattr(boxes_module, "HAVE_NUMBA", False)
    rng = np.random.default_rng(11)
    for _ in range(3):
        m = blob_map(rng, 64, 0.2)
        for multi in (True, False):
            fast_vs_reference(m, [(5, 5, 40, 30), (30, 20, 60, 60)], np.arange(0, 1, 0.02), multi)


def test_real_cub_metadata_reference_equality(reference_dir):
    """Ground truth from wsolevaluation's real CUB metadata (read by moana.data.metadata)."""
    from moana.data.metadata import load_wsol_metadata

    split = reference_dir / "wsol_metadata" / "CUB" / "val"
    if not (split / "localization.txt").is_file():
        pytest.skip(f"no CUB val metadata at {split}")
    meta = load_wsol_metadata(split)
    ev = BoxEvaluator(meta, np.arange(0, 1, 0.05), multi_contour=True)
    rng = np.random.default_rng(5)
    ids = meta.image_ids[:3]
    maps = [blob_map(rng, noise=0.05) for _ in ids]
    for i, m in zip(ids, maps):
        ev.accumulate(m, i)
    gt = [[resize_box(b, meta.image_sizes[i]) for b in meta.boxes[i]] for i in ids]
    ref = reference_max_box_acc(maps, gt, np.arange(0, 1, 0.05), (30, 50, 70), True)
    with pytest.raises(ValueError, match=f"only 3 of the {len(meta.image_ids)} images"):
        ev.compute()  # a subset of the split: refused unless asked for
    r = ev.compute(allow_partial=True)
    assert r["num_images"] == 3 and r["partial"] and r["num_expected"] == len(meta.image_ids)
    for d in (30, 50, 70):
        np.testing.assert_array_equal(np.array(r["curves"][str(d)]), ref[d])


# --- largest-contour sweep (moana.metrics._levelsets): traced areas and ties -----------------
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_traced_outer_area_equals_opencv(seed):
    """The sweep's own border following gives contourArea of every external contour exactly."""
    from moana.metrics._levelsets import _DX, _DY, HAVE_NUMBA, _outer_area2

    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(1, 33, 2))
    binary = (rng.random((h, w)) < rng.uniform(0.2, 0.8)).astype(np.uint8) * 255
    padded = np.zeros((h + 2, w + 2), np.uint8)
    padded[1:-1, 1:-1] = binary
    steps = _DX + _DY * (w + 2)
    for contour in cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]:
        x, y = (int(v) for v in contour[0, 0])  # OpenCV starts at the first pixel in raster order
        area2 = _outer_area2(padded.ravel(), w + 2, (y + 1) * (w + 2) + x + 1, 0, steps)
        assert area2 / 2 == cv2.contourArea(contour)


def _shape_map(rng: np.random.Generator, size: int) -> np.ndarray:
    """Copies of one random small shape at random places and values: equal contour areas
    (ties) between components, rings with islands inside, shapes cut by the image border."""
    shape = rng.random((int(rng.integers(1, 6)), int(rng.integers(1, 6)))) < 0.6
    shape[0, 0] = True
    m = np.zeros((size, size))
    for _ in range(int(rng.integers(2, 9))):
        y, x = (int(v) for v in rng.integers(-2, size, 2))
        value = float(rng.choice([0.25, 0.5, 0.75, 1.0]))
        ys, xs = np.nonzero(shape)
        ys, xs = ys + y, xs + x
        keep = (ys >= 0) & (ys < size) & (xs >= 0) & (xs < size)
        m[ys[keep], xs[keep]] = np.maximum(m[ys[keep], xs[keep]], value)
    if rng.random() < 0.3:  # a ring around the middle with the shapes inside its hole
        ring = np.zeros((size, size), bool)
        ring[2:-2, 2:-2] = True
        ring[4:-4, 4:-4] = False
        m[ring] = float(rng.choice([0.5, 1.0]))
    return m


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), size=st.sampled_from([12, 20, 31]))
def test_largest_contour_ties_equal_reference(seed, size):
    """Adversarial ties: equal-area components at several levels go to OpenCV's first."""
    rng = np.random.default_rng(seed)
    m = _shape_map(rng, size)
    if m.max() == 0:
        m[0, 0] = 1.0
    gt = np.array([[int(rng.integers(0, size // 2)), int(rng.integers(0, size // 2)),
                    int(rng.integers(size // 2, size)), int(rng.integers(size // 2, size))]])
    fast_vs_reference(m, gt, np.arange(0, 1, 0.05), False)


def test_largest_contour_tie_per_component_gt():
    """Two identical squares then a third: each GT box is matched only if the right one wins."""
    m = np.zeros((S, S))
    m[30:40, 150:160] = 0.9  # same area as the other square, later level for the third
    m[100:110, 20:30] = 0.9
    m[180:190, 180:190] = 0.5
    ths = np.arange(0, 1, 0.01)
    for gt in ([(150, 30, 160, 40)], [(20, 100, 30, 110)], [(180, 180, 190, 190)]):
        fast_vs_reference(m, gt, ths, False)


def test_largest_contour_boxes_levels_and_reuse():
    """Unsorted, repeated levels against findContours with RETR_TREE as the reference calls it;
    the work buffers are reused across image sizes."""
    from moana.metrics._levelsets import HAVE_NUMBA, largest_contour_boxes

    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(4)
    for size in (16, 40, 16):
        image = quantize(blob_map(rng, size, 0.3))
        levels = rng.integers(0, 255, 30)
        got = largest_contour_boxes(image, levels)
        for level, box in zip(levels, got):
            _, binary = cv2.threshold(image, int(level), 255, cv2.THRESH_BINARY)
            contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
            if not contours:
                assert box.tolist() == [0, 0, 0, 0]
                continue
            x, y, w, h = cv2.boundingRect(max(contours, key=cv2.contourArea))
            assert box.tolist() == [x, y, min(x + w, size - 1), min(y + h, size - 1)]
    with pytest.raises(ValueError, match="0..255"):
        largest_contour_boxes(np.zeros((4, 4), np.uint8), np.array([256]))


def test_process_pool_largest_contour_same_numbers():
    rng = np.random.default_rng(8)
    maps = [blob_map(rng, noise=0.2) for _ in range(4)]
    boxes = {f"i{i}": [(30, 20, 140, 120)] for i in range(4)}
    ths = np.arange(0, 1, 0.01)
    with BoxEvaluator(metadata_for(boxes), ths, multi_contour=False, workers=2) as pooled:
        pooled.accumulate_batch(maps, list(boxes))
        r2 = pooled.compute()
    _, r1 = evaluate(maps, boxes, ths, multi=False)
    assert r1 == r2
