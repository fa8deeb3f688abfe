"""Seed statistics: t quantiles against tabulated values, paired intervals restated by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from moana.experiments.statistics import mean_std, paired_difference, t_quantile

# scipy.stats.t.ppf values (SciPy is not a dependency of the kit)
T_TABLE = [(0.975, 1, 12.706204736174698), (0.975, 4, 2.7764451051977987),
           (0.975, 9, 2.2621571627409915), (0.95, 30, 1.6972608865939574),
           (0.995, 2, 9.924843200918276)]


@pytest.mark.parametrize("p,df,expected", T_TABLE)
def test_t_quantile(p: float, df: int, expected: float) -> None:
    assert t_quantile(p, df) == pytest.approx(expected, rel=1e-8)
    assert t_quantile(1 - p, df) == pytest.approx(-expected, rel=1e-8)


def test_mean_std_is_numpy_ddof1() -> None:
    x = [61.0, 64.5, 70.25, 58.0, 66.0]
    assert mean_std(x) == pytest.approx((np.mean(x), np.std(x, ddof=1)))
    assert mean_std([3.0]) == (3.0, 0.0)
    with pytest.raises(ValueError):
        mean_std([])
    with pytest.raises(ValueError, match="NaN"):
        mean_std([1.0, math.nan])


def test_paired_t_interval_by_hand() -> None:
    a = [70.0, 72.5, 68.0, 75.0, 71.0]
    b = [65.0, 70.0, 66.5, 69.0, 70.0]
    d = np.subtract(a, b)
    half = 2.7764451051977987 * d.std(ddof=1) / math.sqrt(5)
    got = paired_difference(a, b)
    assert got.mean == pytest.approx(d.mean())
    assert (got.low, got.high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert got.excludes_zero and got.n == 5 and got.interval == "t"
    same = paired_difference(a, a)
    assert (same.mean, same.low, same.high) == (0.0, 0.0, 0.0) and not same.excludes_zero


def test_paired_bootstrap_is_seeded_percentile() -> None:
    a, b = [1.0, 4.0, 2.0, 8.0, 3.0], [0.0, 1.0, 1.0, 2.0, 2.0]
    d = np.subtract(a, b)
    # the percentile bootstrap of the mean, restated with numpy's own resampling: with 20,000
    # resamples the two Monte Carlo estimates of the 2.5%/97.5% points agree to ~0.1
    rng = np.random.default_rng(123)
    means = d[rng.integers(0, 5, size=(20000, 5))].mean(axis=1)
    got = paired_difference(a, b, interval="bootstrap", n_boot=20000, seed=7)
    assert (got.low, got.high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])), abs=0.15)
    assert got.low <= got.mean <= got.high
    assert got == paired_difference(a, b, interval="bootstrap", n_boot=20000, seed=7)


def test_paired_difference_errors() -> None:
    with pytest.raises(ValueError, match="equal-length"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="interval"):
        paired_difference([1.0, 2.0], [1.0, 2.0], interval="z")
    one = paired_difference([2.0], [1.0])
    assert one.mean == 1.0 and one.low == -math.inf and one.high == math.inf
