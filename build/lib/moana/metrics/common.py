"""Shared checks and conventions of wsolevaluation (Choe et al., CVPR 2020): score-map validity,
the CAM-threshold list and the resizing of ground-truth boxes to the 224x224 evaluation grid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RESIZE_LENGTH = 224


def cam_thresholds(step: float = 0.001) -> np.ndarray:
    """wsolevaluation's threshold list ``np.arange(0, 1, step)``."""
    if not 0 < step < 1:
        raise ValueError(f"threshold step must be in (0, 1), got {step}")
    return np.arange(0, 1, step)


def check_scoremap(scoremap: np.ndarray, name: str = "score map") -> None:
    """Raise like wsolevaluation's ``check_scoremap_validity`` (2-D float, no NaN, in [0, 1]).

    Float32 maps are accepted too (the evaluators work in float64).
    """
    if not isinstance(scoremap, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(scoremap).__name__}")
    if scoremap.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {scoremap.shape}")
    if not np.issubdtype(scoremap.dtype, np.floating):
        raise TypeError(f"{name} must be floating point, got {scoremap.dtype}")
    if np.isnan(scoremap).any():
        raise ValueError(f"{name} contains NaN (a broken model? see moana.cam.normalize_scoremap)")
    if scoremap.size and (scoremap.min() < 0 or scoremap.max() > 1):
        raise ValueError(
            f"{name} must be in [0, 1]; min={scoremap.min()}, max={scoremap.max()}"
        )


def resize_box(
    box: Sequence[float], image_size: tuple[int, int], size: int = RESIZE_LENGTH
) -> tuple[int, int, int, int]:
    """Scale an (x0, y0, x1, y1) box from an image of (width, height) to size x size, int()-truncated."""
    x0, y0, x1, y1 = map(float, box)
    width, height = map(float, image_size)
    new = float(size)
    return (int(x0 * new / width), int(y0 * new / height),
            int(x1 * new / width), int(y1 * new / height))
