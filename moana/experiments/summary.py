"""Summaries of ablation results: mean ± std per variant and paired differences to the
reference variants.

Significance rule (documented in :func:`summarize`): every variant runs the same seeds, so a
difference to a reference is the mean of the per-seed differences (paired by seed) with a 95%
interval (Student's t by default, or a percentile bootstrap; :mod:`moana.experiments.statistics`);
it is marked when the interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from moana.experiments.statistics import paired_difference
from moana.experiments.variants import DEFAULT_METRICS


def _paired(results: pd.DataFrame, metric: str, variant: str, ref: str, interval: str,
            confidence: float):
    a = results[results["variant"] == variant].set_index("seed")[metric].dropna()
    b = results[results["variant"] == ref].set_index("seed")[metric].dropna()
    seeds = sorted(set(a.index) & set(b.index))
    if len(seeds) < 2:
        return None
    return paired_difference(a.loc[seeds].to_numpy(), b.loc[seeds].to_numpy(),
                             interval=interval, confidence=confidence)


def summarize(
    results: pd.DataFrame,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    references: Sequence[str] = ("cam", "moana"),
    interval: str = "t",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean, std and n over seeds per variant, and paired differences to the reference variants.

    ``results``: one row per (variant, seed) with columns ``variant``, ``seed`` and the metrics
    (percent). For each metric ``m`` and reference ``r`` the columns ``(m, "Δ r")``,
    ``(m, "Δ r low")`` and ``(m, "Δ r high")`` hold the mean of ``v_s - r_s`` over the seeds
    both ran and its ``confidence`` interval (:func:`moana.experiments.statistics.
    paired_difference`, ``interval`` "t" or "bootstrap"); ``(m, "sig r")`` is True when the
    interval excludes 0, ``NaN`` where it cannot be decided (fewer than two shared seeds).
    References missing from ``results`` are skipped. Columns are a (metric, statistic)
    MultiIndex. Raises ValueError for a missing ``variant`` / ``seed`` column or metric.
    """
    for col in ("variant", "seed"):
        if col not in results.columns:
            raise ValueError(f"results need a {col!r} column (see load_results / run_ablation)")
    missing = [m for m in metrics if m not in results.columns]
    if missing:
        raise ValueError(
            f"metrics {missing} not in results columns {sorted(map(str, results.columns))}"
        )
    order = list(dict.fromkeys(results["variant"]))
    grouped = results.groupby("variant", sort=False)
    refs = [r for r in references if r in order]
    cols: dict[tuple[str, str], pd.Series] = {}
    for m in metrics:
        cols[(m, "mean")] = grouped[m].mean()
        cols[(m, "std")] = grouped[m].std(ddof=1)
        cols[(m, "n")] = grouped[m].count()
        for r in refs:
            stats = {v: _paired(results, m, v, r, interval, confidence) for v in order}
            for suffix, field in (("", "mean"), (" low", "low"), (" high", "high")):
                cols[(m, f"Δ {r}{suffix}")] = pd.Series(
                    {v: np.nan if d is None else getattr(d, field) for v, d in stats.items()},
                    dtype=float)
            cols[(m, f"sig {r}")] = pd.Series({v: np.nan if d is None else bool(d.excludes_zero)
                                               for v, d in stats.items()}, dtype=object)
    summary = pd.DataFrame(cols).reindex(order)
    summary.columns = pd.MultiIndex.from_tuples(summary.columns, names=["metric", "stat"])
    summary.index.name = "variant"
    summary.attrs["rule"] = (f"Δ: mean of per-seed differences (paired by seed) with a "
                             f"{confidence:.0%} {interval} interval; * = the interval excludes 0")
    return summary


def format_summary(summary: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """Human-readable cells ``mean ± std`` plus ``Δ [low, high]`` to each reference (paired
    by seed), ``*`` when the interval excludes 0."""
    metrics = list(dict.fromkeys(summary.columns.get_level_values(0)))
    out = {}
    for m in metrics:
        sub = summary[m]
        out[m] = [
            "n/a" if pd.isna(row["mean"]) else (
                f"{row['mean']:.{digits}f}"
                + ("" if pd.isna(row["std"]) else f" ± {row['std']:.{digits}f}")
            )
            for _, row in sub.iterrows()
        ]
        for stat in sub.columns:
            if stat.startswith("Δ ") and not stat.endswith((" low", " high")):
                ref = stat[2:]
                sig = sub.get(f"sig {ref}")
                cells = []
                for name, d in sub[stat].items():
                    if name == ref or pd.isna(d):
                        cells.append("")
                        continue
                    s = sig[name] if sig is not None else np.nan
                    mark = "*" if (isinstance(s, (bool, np.bool_)) and s) else ""
                    low, high = sub.get(f"{stat} low"), sub.get(f"{stat} high")
                    ci = ("" if low is None or pd.isna(low[name]) else
                          f" [{low[name]:+.{digits}f}, {high[name]:+.{digits}f}]")
                    cells.append(f"{d:+.{digits}f}{ci}{mark}")
                out[f"{m} Δ{ref}"] = cells
    df = pd.DataFrame(out, index=summary.index)
    df.attrs.update(summary.attrs)
    return df
