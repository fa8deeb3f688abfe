"""Summaries of ablation results: mean ± std per variant and which differences exceed the seed
spread.

Significance rule (documented in :func:`summarize`): a difference between two variants is called
larger than the seed spread when ``|Δmean| > k · pooled_std`` with ``pooled_std =
sqrt((s_a² + s_b²) / 2)`` (sample std over seeds, ``k = 2`` by default). With 3 seeds this is a
coarse screen, not a hypothesis test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from moana.experiments.variants import DEFAULT_METRICS

def summarize(
    results: pd.DataFrame,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    references: Sequence[str] = ("cam", "moana"),
    k: float = 2.0,
) -> pd.DataFrame:
    """Mean, std and n over seeds per variant, and differences to the reference variants.

    For each metric ``m`` and reference ``r`` the columns ``(m, "Δ r")`` hold ``mean_v - mean_r``
    and ``(m, "sig r")`` whether ``|Δ| > k * pooled_std`` with ``pooled_std = sqrt((s_v² + s_r²)
    / 2)`` (sample std, ddof=1). ``sig`` is ``NaN`` where it cannot be decided (fewer than two
    seeds on either side) and ``False`` where all seeds agree exactly with a zero difference.
    References missing from ``results`` are skipped. Columns are a (metric, statistic) MultiIndex.
    """
    if "variant" not in results.columns:
        raise ValueError("results need a 'variant' column (see load_results / run_ablation)")
    missing = [m for m in metrics if m not in results.columns]
    if missing:
        raise ValueError(
            f"metrics {missing} not in results columns {sorted(map(str, results.columns))}"
        )
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    order = list(dict.fromkeys(results["variant"]))
    grouped = results.groupby("variant", sort=False)
    refs = [r for r in references if r in order]
    cols: dict[tuple[str, str], pd.Series] = {}
    for m in metrics:
        mean = grouped[m].mean()
        std = grouped[m].std(ddof=1)
        n = grouped[m].count()
        cols[(m, "mean")] = mean
        cols[(m, "std")] = std
        cols[(m, "n")] = n
        for r in refs:
            delta = mean - mean[r]
            pooled = np.sqrt((std**2 + std[r] ** 2) / 2.0)
            sig = pd.Series(np.nan, index=mean.index, dtype=object)
            decidable = (n >= 2) & (n[r] >= 2) & pooled.notna()
            sig[decidable] = (delta[decidable].abs() > k * pooled[decidable]).astype(bool)
            cols[(m, f"Δ {r}")] = delta
            cols[(m, f"sig {r}")] = sig
    summary = pd.DataFrame(cols).reindex(order)
    summary.columns = pd.MultiIndex.from_tuples(summary.columns, names=["metric", "stat"])
    summary.index.name = "variant"
    summary.attrs["rule"] = f"|Δmean| > {k:g} · sqrt((s_a² + s_b²) / 2), sample std over seeds"
    return summary


def format_summary(summary: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """Human-readable cells ``mean ± std`` plus ``Δ`` to each reference, ``*`` when significant."""
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
            if stat.startswith("Δ "):
                ref = stat[2:]
                sig = sub.get(f"sig {ref}")
                cells = []
                for name, d in sub[stat].items():
                    if name == ref or pd.isna(d):
                        cells.append("")
                        continue
                    s = sig[name] if sig is not None else np.nan
                    mark = "*" if (isinstance(s, (bool, np.bool_)) and s) else ""
                    cells.append(f"{d:+.{digits}f}{mark}")
                out[f"{m} Δ{ref}"] = cells
    df = pd.DataFrame(out, index=summary.index)
    df.attrs.update(summary.attrs)
    return df
