"""The benchmark-validity table: does the synthetic WSOL benchmark tell methods apart?

One row per entry, with its controls: the center-Gaussian baseline (``floor``, Choe et al.,
CVPR 2020), vanilla CAM (``baseline``), controls known to spread the CAM (``control``: the
mark-hiding variant of the training data, HaS), the methods under study (``method``: MoANA,
SE, CBAM, ...) and the ground-truth mask used as the score map (``ceiling``). Every trained
entry runs the same seeds; each is compared with CAM seed by seed (paired differences with a
95% interval, :mod:`moana.experiments.statistics`). Units are percent.

Per-seed records are plain dicts ``{"role", "method", "seed", "top1", "MaxBoxAccV2"}``
(``top1`` may be NaN for the floor and ceiling, which do not classify); the trained entries come
from the ablation runner (:func:`trained_records`). The floor and the
ceiling do not depend on a seed (the test data are fixed), so their record is repeated for
every seed: their std is 0 and their paired difference to CAM carries CAM's seed spread.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from moana.experiments.statistics import mean_std, paired_difference

#: Columns of ``benchmark_validity.csv``, in order.
COLUMNS = ("role", "method", "n_seeds", "top1_mean", "top1_std", "MaxBoxAccV2_mean",
           "MaxBoxAccV2_std", "delta_vs_cam_mean", "delta_vs_cam_ci_low", "delta_vs_cam_ci_high")
ROLES = ("floor", "baseline", "control", "method", "ceiling")


def floor_metrics(metadata, *, image_size: int, step: float = 0.01) -> dict[str, float]:
    """MaxBoxAccV2 (percent) of the center Gaussian (sigma 0.25 of the side) on a split."""
    from moana.metrics.baselines import evaluate_center_baseline

    result = evaluate_center_baseline(metadata, image_size=image_size, step=step)
    return {"top1": math.nan, "MaxBoxAccV2": float(result["MaxBoxAccV2"])}


def ceiling_metrics(metadata, mask_root: str | Path, *, image_size: int, step: float = 0.01
                    ) -> dict[str, float]:
    """MaxBoxAccV2 (percent) with each image's ground-truth mask (resized, nearest) as its
    score map: the best any score map can do on boxes (about 100 when masks match boxes)."""
    from moana.metrics.boxes import BoxEvaluator
    from moana.metrics.masks import ground_truth_mask

    evaluator = BoxEvaluator(metadata, step=step, image_size=image_size)
    for image_id in metadata.image_ids:
        if not metadata.boxes.get(image_id):
            continue
        paths = metadata.masks.get(image_id)
        if not paths:
            raise ValueError(f"{metadata.directory}: {image_id} has no mask for the ceiling")
        gt = ground_truth_mask(mask_root, paths, None, size=image_size)
        evaluator.accumulate((gt == 1).astype(np.float64), image_id)
    return {"top1": math.nan, "MaxBoxAccV2": float(evaluator.compute()["MaxBoxAccV2"])}


def _by_seed(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[int, dict]]:
    out: dict[tuple[str, str], dict[int, dict]] = {}
    for r in records:
        if r["role"] not in ROLES:
            raise ValueError(f"unknown role {r['role']!r} of {r['method']!r}; expected {ROLES}")
        runs = out.setdefault((r["role"], r["method"]), {})
        if int(r["seed"]) in runs:
            raise ValueError(f"{r['method']}: seed {r['seed']} given twice")
        runs[int(r["seed"])] = r
    return out


def validity_rows(records: Iterable[dict[str, Any]], *, baseline: str = "cam",
                  interval: str = "t", confidence: float = 0.95) -> list[dict[str, Any]]:
    """Rows of ``benchmark_validity.csv`` (keys = :data:`COLUMNS`), ordered by role.

    Differences are paired by seed over the seeds shared with the ``baseline`` method (which
    must have role ``baseline``); a row whose seeds differ from the baseline's raises
    ValueError (an unpaired comparison). The baseline's own delta is 0 with a 0-width interval.
    """
    groups = _by_seed(records)
    base = [runs for (role, name), runs in groups.items() if name == baseline]
    if len(base) != 1:
        raise ValueError(f"need exactly one entry for the baseline {baseline!r}")
    base_runs = base[0]
    seeds = sorted(base_runs)
    rows = []
    for (role, name), runs in sorted(groups.items(), key=lambda kv: ROLES.index(kv[0][0])):
        if sorted(runs) != seeds:
            raise ValueError(f"{name}: seeds {sorted(runs)} differ from {baseline}'s {seeds}; "
                             "every entry must run the same seeds")
        top1 = [float(runs[s].get("top1", math.nan)) for s in seeds]
        box = [float(runs[s]["MaxBoxAccV2"]) for s in seeds]
        top1_mean, top1_std = (math.nan, math.nan) if np.isnan(top1).any() else mean_std(top1)
        box_mean, box_std = mean_std(box)
        delta = paired_difference(box, [float(base_runs[s]["MaxBoxAccV2"]) for s in seeds],
                                  interval=interval, confidence=confidence)
        rows.append(dict(zip(COLUMNS, (role, name, len(seeds), top1_mean, top1_std, box_mean,
                                       box_std, delta.mean, delta.low, delta.high))))
    return rows


def validity_frame(records: Iterable[dict[str, Any]], **kwargs: Any):
    """:func:`validity_rows` as a pandas DataFrame with exactly :data:`COLUMNS`."""
    import pandas as pd

    return pd.DataFrame(validity_rows(records, **kwargs), columns=list(COLUMNS))


def write_validity_csv(rows: list[dict[str, Any]], path: str | Path, digits: int = 2) -> Path:
    """Write the rows atomically (NaN as an empty cell) and return the path."""
    from moana.io import atomic_write_text

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    lines = [",".join(COLUMNS)] + [",".join(cell(r[c]) for c in COLUMNS) for r in rows]
    return atomic_write_text(Path(path), "\n".join(lines) + "\n")


def plot_validity(rows: list[dict[str, Any]], path: str | Path | None = None):
    """Two panels: MaxBoxAccV2 mean +- std per entry, and the paired difference to CAM with its
    interval (filled markers: the interval excludes 0). Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    names = [f"{r['method']}\n({r['role']})" for r in rows]
    y = np.arange(len(rows))[::-1]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 0.45 * len(rows) + 1.5), sharey=True)
    ax1.barh(y, [r["MaxBoxAccV2_mean"] for r in rows], xerr=[r["MaxBoxAccV2_std"] for r in rows],
             color="#8aa", capsize=3)
    ax1.set_yticks(y, names, fontsize=8)
    ax1.set_xlabel("MaxBoxAccV2 (%), mean ± std over seeds")
    ax1.set_xlim(0, 100)
    for yi, r in zip(y, rows):
        lo, hi, m = r["delta_vs_cam_ci_low"], r["delta_vs_cam_ci_high"], r["delta_vs_cam_mean"]
        excl = lo > 0 or hi < 0
        ax2.errorbar(m, yi, xerr=[[m - lo], [hi - m]], fmt="o", capsize=3, color="k",
                     markerfacecolor="k" if excl else "white")
    ax2.axvline(0, color="gray", lw=0.8)
    ax2.set_xlabel("paired Δ MaxBoxAccV2 vs CAM (points, 95% CI)")
    fig.suptitle("Synthetic benchmark validity (synthetic data)", fontsize=10)
    fig.tight_layout()
    if path is not None:
        from moana.io import atomic_write_bytes
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=120)
        atomic_write_bytes(Path(path), buf.getvalue())
    return fig


# ------------------------------------------------------------------------------ the grid

#: Entries of the validity table, as ablation variants (:mod:`moana.experiments.variants`):
#: vanilla CAM (the baseline), the controls of :data:`~moana.experiments.variants.CONTROLS`,
#: MoANA and two attention baselines. They run through
#: :func:`moana.experiments.ablation.run_ablation` with the same seeds, data and schedule.
VALIDITY_VARIANTS: tuple[str, ...] = ("cam", "has", "cam+mark_hidden", "moana", "se", "cbam")
#: Seeds of the smoke benchmark (the issue's minimum for a paired comparison is 5).
SMOKE_SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)


def role_of(variant: str, group: str, *, baseline: str = "cam") -> str:
    """``baseline`` for the baseline variant, ``control`` for the controls' group, else
    ``method``."""
    if variant == baseline:
        return "baseline"
    return "control" if group == "control" else "method"


def trained_records(results, variants: Iterable[str] | None = None, *,
                    baseline: str = "cam") -> list[dict[str, Any]]:
    """Per-seed records of trained variants from the ablation runner's results (a DataFrame
    with ``variant``, ``group``, ``seed``, ``top1_cls``, ``MaxBoxAccV2``; percent)."""
    wanted = None if variants is None else set(variants)
    out = []
    for row in results.to_dict("records"):
        if wanted is not None and row["variant"] not in wanted:
            continue
        out.append({"role": role_of(row["variant"], row["group"], baseline=baseline),
                    "method": row["variant"], "seed": int(row["seed"]),
                    "top1": float(row.get("top1_cls", math.nan)),
                    "MaxBoxAccV2": float(row["MaxBoxAccV2"])})
    return out


def reference_records(test_metadata, mask_root: str | Path, seeds: Iterable[int], *,
                      image_size: int, step: float = 0.01) -> list[dict[str, Any]]:
    """Floor (center Gaussian) and ceiling (GT mask) records on a test split, one per seed."""
    floor = floor_metrics(test_metadata, image_size=image_size, step=step)
    ceiling = ceiling_metrics(test_metadata, mask_root, image_size=image_size, step=step)
    return [{"role": role, "method": method, "seed": int(s), **m}
            for s in seeds
            for role, method, m in (("floor", "center_gaussian", floor),
                                    ("ceiling", "gt_mask", ceiling))]


def benchmark_validity(results, test_metadata, mask_root: str | Path, *, image_size: int,
                       variants: Iterable[str] | None = None, baseline: str = "cam",
                       interval: str = "t", step: float = 0.01) -> list[dict[str, Any]]:
    """The rows of ``benchmark_validity.csv`` from the ablation runner's per-seed ``results``
    plus the floor and ceiling on ``test_metadata`` (masks under ``mask_root``), computed at
    ``image_size`` with threshold ``step``. Raises ValueError as :func:`validity_rows`."""
    records = trained_records(results, variants, baseline=baseline)
    seeds = sorted({r["seed"] for r in records if r["method"] == baseline})
    records += reference_records(test_metadata, mask_root, seeds, image_size=image_size, step=step)
    return validity_rows(records, baseline=baseline, interval=interval)
