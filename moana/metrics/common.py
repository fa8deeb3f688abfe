"""Shared checks and conventions of wsolevaluation (Choe et al., CVPR 2020): score-map validity,
the CAM-threshold list, the resizing of ground-truth boxes to the 224x224 evaluation grid and
the metric reported per dataset."""

from __future__ import annotations

import numpy as np

from moana.data.boxes import RESIZE_LENGTH, check_size, resize_box  # noqa: F401  (the one copy)


def primary_metric(dataset: str) -> str:
    """The localization metric wsolevaluation reports for ``dataset``: PxAP on OpenImages (masks),
    MaxBoxAccV2 elsewhere."""
    return "PxAP" if str(dataset).lower() == "openimages" else "MaxBoxAccV2"


def cam_thresholds(step: float = 0.001) -> np.ndarray:
    """wsolevaluation's threshold list ``np.arange(0, 1, step)``."""
    if not 0 < step < 1:
        raise ValueError(f"threshold step must be in (0, 1), got {step}")
    return np.arange(0, 1, step)


def check_scoremap(scoremap: np.ndarray, name: str = "score map") -> None:
    """Raise like wsolevaluation's ``check_scoremap_validity``: 2-D, floating point, finite and in
    [0, 1]. Float32 maps are accepted too (the evaluators work in float64).

    Raises TypeError when ``scoremap`` is not a numpy array (a programming error) and ValueError,
    starting with ``name`` (pass the file path where there is one), for any bad content: wrong
    number of dimensions, an integer dtype (e.g. an 8-bit image), NaN or +-inf, values outside
    [0, 1].
    """
    if not isinstance(scoremap, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(scoremap).__name__}")
    if scoremap.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {scoremap.shape}")
    if not np.issubdtype(scoremap.dtype, np.floating):
        hint = " (an 8-bit image? divide it by 255)" if scoremap.dtype == np.uint8 else ""
        raise ValueError(f"{name} has dtype {scoremap.dtype}; a score map must be floating point "
                         f"in [0, 1]{hint}")
    if scoremap.size == 0:
        return
    low, high = scoremap.min(), scoremap.max()
    if low >= 0 and high <= 1:  # also rules out NaN (comparisons are False) and +-inf
        return
    finite = np.isfinite(scoremap)
    if not finite.all():
        bad = scoremap[~finite]
        kinds = [k for k, hit in (("NaN", np.isnan(bad).any()), ("+inf", (bad == np.inf).any()),
                                  ("-inf", (bad == -np.inf).any())) if hit]
        raise ValueError(f"{name} contains {'/'.join(kinds)} at {int((~finite).sum())} pixel(s) "
                         "(a broken model? see moana.cam.normalize_scoremap)")
    if scoremap.size and (scoremap.min() < 0 or scoremap.max() > 1):
        raise ValueError(
            f"{name} must be in [0, 1]; min={scoremap.min()}, max={scoremap.max()}"
        )
