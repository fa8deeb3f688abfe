"""Seed statistics for method comparisons: mean +- std and paired differences with a 95% interval.

Every comparison runs the same seeds for every method, so a method is compared with the
baseline (CAM) seed by seed: d_s = x_s(method) - x_s(CAM). The interval of the mean paired
difference is Student's t by default, mean(d) +- t_{(1+c)/2, n-1} * sd(d) / sqrt(n) (exact for
normal differences, the usual choice for n = 5..10 seeds), or a percentile bootstrap over seeds
with a fixed seed (``method="bootstrap"``; with 5 seeds it is too narrow, so it is not the
default). Standard deviations are sample ones (ddof = 1). Values keep their unit (percent in
the kit's tables). The t quantile is ``scipy.stats.t.ppf``; the bootstrap is
``scipy.stats.bootstrap`` (percentile method).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

INTERVALS = ("t", "bootstrap")


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample std with ddof=1); std is 0.0 for one value. Raises ValueError when empty
    or when a value is NaN."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("mean_std of no values")
    if np.isnan(x).any():
        raise ValueError(f"mean_std: NaN among the values {x.tolist()}")
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with ``df`` >= 1 degrees of freedom, 0 < p < 1."""
    if not 0 < p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df >= 1, got p={p}, df={df}")
    return float(stats.t.ppf(p, df))


@dataclass(frozen=True)
class PairedDifference:
    """Mean of the paired differences a - b and its interval (same unit as the inputs)."""

    mean: float
    low: float
    high: float
    n: int
    interval: str
    confidence: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_difference(a: Sequence[float], b: Sequence[float], *, interval: str = "t",
                      confidence: float = 0.95, n_boot: int = 10000, seed: int = 0
                      ) -> PairedDifference:
    """Mean of a_s - b_s over paired seeds with a ``confidence`` interval.

    ``interval``: ``"t"`` (Student's t, default) or ``"bootstrap"`` (percentile bootstrap of
    the mean over ``n_boot`` resamples of the seeds, ``numpy.random.default_rng(seed)``).
    With one pair the interval is (-inf, inf). Raises ValueError on unequal lengths or NaN.
    """
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError(f"paired_difference needs two equal-length 1-D sequences, "
                         f"got {x.shape} and {y.shape}")
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}, got {interval!r}")
    d = x - y
    if np.isnan(d).any():
        raise ValueError("paired_difference: NaN among the values")
    n, mean = d.size, float(d.mean())
    if n == 1:
        return PairedDifference(mean, -math.inf, math.inf, 1, interval, confidence)
    if interval == "t":
        half = t_quantile((1 + confidence) / 2, n - 1) * float(d.std(ddof=1)) / math.sqrt(n)
        return PairedDifference(mean, mean - half, mean + half, n, interval, confidence)
    res = stats.bootstrap((d,), np.mean, n_resamples=n_boot, confidence_level=confidence,
                          method="percentile", rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return PairedDifference(mean, float(low), float(high), n, interval, confidence)
