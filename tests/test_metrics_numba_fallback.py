"""Without numba (not installed, or MOANA_DISABLE_NUMBA=1) the box metrics take the OpenCV path
and give the same numbers as the numba level-set kernels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from moana.metrics import boxes
from moana.metrics._levelsets import HAVE_NUMBA

REPO = Path(__file__).resolve().parents[1]


def _maps(n: int = 6, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        cam = rng.random((14, 14)) ** (1 + i % 3)  # CAM-like: upsampled, several blobs
        m = cv2.resize(cam, (96, 96), interpolation=cv2.INTER_CUBIC)
        m = (m - m.min()) / (m.max() - m.min())
        if i % 2:
            m = np.maximum(m, 0.3 * rng.random(m.shape))  # pixel noise: many small contours
        out.append(boxes.quantize(m))
    return out


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed (fast-eval extra)")
@pytest.mark.parametrize("multi_contour", [True, False])
def test_opencv_path_equals_numba_path(monkeypatch, multi_contour):
    thresholds = np.arange(0, 1, 0.005)
    gt = np.array([[10, 12, 60, 70], [50, 40, 90, 95]])
    fast = [boxes.best_iou_per_threshold(m, gt, thresholds, multi_contour) for m in _maps()]
    monkeypatch.setattr(boxes, "HAVE_NUMBA", False)
    slow = [boxes.best_iou_per_threshold(m, gt, thresholds, multi_contour) for m in _maps()]
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)


def test_disable_env_var_skips_numba():
    code = ("import sys\nimport moana.metrics._levelsets as L\n"
            "print(L.HAVE_NUMBA, 'numba' in sys.modules)")
    env = dict(os.environ, MOANA_DISABLE_NUMBA="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
