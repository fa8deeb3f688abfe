"""The framed union-find sweep of moana.metrics._levelsets against the reference algorithm
(moana.metrics.reference: one findContours per threshold, as wsolevaluation's evaluation.py)
on CAM-like maps (a small map upsampled bicubically, as the CAM pipeline does), non-square
maps and adversarial maps: plateaus and ties, nested rings with holes, components touching
diagonally and along the image edge."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moana.metrics._levelsets import HAVE_NUMBA
from moana.metrics.boxes import best_iou_per_threshold, quantize
from moana.metrics.reference import reference_boxes, reference_iou

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="the sweep needs numba")


def assert_equal_to_reference(m: np.ndarray, gt: np.ndarray, thresholds: np.ndarray) -> None:
    # largest contour first: the all-contours call then reuses its outer-contour sweep
    for multi in (False, True):
        fast = best_iou_per_threshold(quantize(m), gt, thresholds, multi)
        slow = np.array([reference_iou(b, gt).max()
                         for b in reference_boxes(m, thresholds, multi)])
        np.testing.assert_array_equal(fast, slow, err_msg=f"multi_contour={multi}")


def random_gt(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    k = int(rng.integers(1, 3))
    x0 = rng.integers(0, width - 1, k)
    y0 = rng.integers(0, height - 1, k)
    return np.stack([x0, y0, rng.integers(x0, width), rng.integers(y0, height)], 1)


def cam_like(rng: np.random.Generator, cam: int, height: int, width: int) -> np.ndarray:
    small = 0.15 * rng.random((cam, cam))
    yy, xx = np.mgrid[:cam, :cam]
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.uniform(0, cam, 2)
        s = rng.uniform(0.5, cam / 4)
        small += rng.uniform(0.3, 1) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    m = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    m -= m.min()
    return m / m.max()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), shape=st.sampled_from([(56, 56), (40, 72), (72, 33)]))
def test_cam_like_maps_step_0001(seed, shape):
    rng = np.random.default_rng(seed)
    m = cam_like(rng, 7, *shape)
    assert_equal_to_reference(m, random_gt(rng, *shape), np.arange(0, 1, 0.001))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), levels=st.sampled_from([2, 3, 5]))
def test_plateaus_and_ties(seed, levels):
    """Few distinct values on a coarse grid: plateaus, equal-area components, touching corners."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, levels, (6, 5)).astype(np.float64) / (levels - 1)
    m = np.kron(cells, np.ones((int(rng.integers(1, 4)), int(rng.integers(1, 4)))))
    assert_equal_to_reference(m, random_gt(rng, *m.shape), np.arange(0, 1, 0.01))


def test_nested_rings_and_diagonal_touching():
    """Rings inside rings (holes holding islands), diagonal-only contacts (one 8-connected
    component, separate 4-connected holes) and components on the image edge."""
    m = np.zeros((23, 27))
    m[1:22, 1:22] = 0.4
    m[3:20, 3:20] = 0.0
    m[5:18, 5:18] = 0.7
    m[7:16, 7:16] = 0.2
    m[10:13, 10:13] = 1.0
    m[0, 23:27] = 0.9  # on the top edge
    for k in range(4):  # a diagonal staircase: touching only at corners
        m[18 + k, 22 + k] = 0.55
    m[21, 0] = 0.55
    gt = np.array([[2, 2, 20, 20], [22, 0, 26, 5]])
    assert_equal_to_reference(m, gt, np.arange(0, 1, 0.001))


def test_checkerboard_holes():
    m = (np.indices((16, 18)).sum(0) % 2).astype(np.float64)
    m[0, :] = m[-1, :] = m[:, 0] = m[:, -1] = 1.0
    m[5:9, 5:9] = 0.0  # one larger 4-connected hole
    assert_equal_to_reference(m, np.array([[4, 4, 9, 9]]), np.arange(0, 1, 0.05))


def test_all_contours_reuses_largest_sweep_only_for_same_map_and_gt():
    """The outer-contour IoUs kept by the largest-contour sweep (which goes through every level
    whichever levels it was asked for) are reused only for the same map and ground truth;
    otherwise the full sweep runs."""
    from moana.metrics import _levelsets

    rng = np.random.default_rng(3)
    m = cam_like(rng, 7, 48, 48)
    image = quantize(m)
    gt = np.array([[5, 6, 30, 40]])
    full = _levelsets.best_iou_all_contours(image, gt)
    everything = np.arange(int(image.max()))
    _levelsets.largest_contour_boxes(image, everything, gt)
    assert _levelsets._outer_from_largest(image, gt) is not None
    np.testing.assert_array_equal(_levelsets.best_iou_all_contours(image, gt), full)
    assert _levelsets._outer_from_largest(image, gt + 1) is None
    other = image.copy()
    other[0, 0] ^= 1
    assert _levelsets._outer_from_largest(other, gt) is None
    _levelsets.largest_contour_boxes(image, everything[::7], gt)  # a few levels: same sweep
    assert _levelsets._outer_from_largest(image, gt) is not None
    np.testing.assert_array_equal(_levelsets.best_iou_all_contours(image, gt), full)
    _levelsets.largest_contour_boxes(image, everything)  # no gt: nothing kept
    assert _levelsets._outer_from_largest(image, gt) is None
