"""The benchmark-validity table: does the synthetic WSOL benchmark tell methods apart?

One row per entry, with its controls: the center-Gaussian baseline (``floor``, Choe et al.,
CVPR 2020), vanilla CAM (``baseline``), controls known to spread the CAM (``control``: the
mark-hiding variant of the training data, HaS), the methods under study (``method``: MoANA,
SE, CBAM, ...) and the ground-truth mask used as the score map (``ceiling``). Every trained
entry runs the same seeds; each is compared with CAM seed by seed (paired differences with a
95% interval, :mod:`moana.experiments.statistics`). Units are percent.

Per-seed records are plain dicts ``{"role", "method", "seed", "top1", "MaxBoxAccV2"}``
(``top1`` may be NaN for the floor and ceiling, which do not classify). The floor and the
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


def _center_baseline():
    try:  # the baseline's new home (moved out of viz)
        from moana.metrics.baselines import evaluate_center_baseline
    except ImportError:
        from moana.viz.baselines import evaluate_center_baseline
    return evaluate_center_baseline


def floor_metrics(metadata, *, image_size: int, step: float = 0.01) -> dict[str, float]:
    """MaxBoxAccV2 (percent) of the center Gaussian (sigma 0.25 of the side) on a split."""
    result = _center_baseline()(metadata, image_size=image_size, step=step)
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
    import matplotlib

    matplotlib.use("Agg", force=False)
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

#: The smoke benchmark's data knobs (WSOLSynthSpec; everything else at its default): 4 classes
#: at 32 px so that a run takes seconds on a CPU; val as large as test so that the CAM
#: thresholds are not chosen on a handful of images.
SMOKE_KNOBS: dict[str, Any] = {"seed": 0, "num_classes": 4, "image_size": 32,
                               "per_class": {"train": 100, "val": 50, "test": 50}}
#: The mark-hiding control: the same data with the mark left out of half the training images
#: (val and test are identical to SMOKE_KNOBS's).
CONTROL_KNOBS: dict[str, Any] = {**SMOKE_KNOBS, "mark_hidden": 0.5}
SMOKE_EPOCHS = 6
SMOKE_SEEDS = (0, 1, 2, 3, 4)
#: entry name -> (role, train config, extra overrides, data knobs)
ENTRIES: dict[str, tuple[str, str, tuple[str, ...], dict[str, Any]]] = {
    "cam": ("baseline", "smoke_cam", (), SMOKE_KNOBS),
    "cam_mark_hidden": ("control", "smoke_cam", (), CONTROL_KNOBS),
    "has": ("control", "smoke_cam", ("model.method=has",), SMOKE_KNOBS),
    "moana": ("method", "smoke_moana", (), SMOKE_KNOBS),
    "se": ("method", "smoke_cam", ("model.method=se",), SMOKE_KNOBS),
    "cbam": ("method", "smoke_cam", ("model.method=cbam",), SMOKE_KNOBS),
}


def smoke_overrides(data_root: str | Path, knobs: dict[str, Any], pretrained: str | Path | None,
                    seed: int, epochs: int = SMOKE_EPOCHS) -> list[str]:
    """Train-config overrides of one benchmark run (on top of a ``smoke_*`` config).

    With ``pretrained`` (a pretext backbone, :mod:`moana.experiments.pretext`): fine-tuning
    with the paper's 10x lower backbone learning rate (0.01 vs 0.1); with None: from scratch,
    every layer at 0.1. Both: a fixed schedule (lr / 10 for the last 2 epochs) and the last
    checkpoint (selection by val MaxBoxAccV2 picked under-trained epochs whose blurry CAMs
    score well, at top-1 below 50%), inputs resized to 9/8 of the side and randomly cropped.
    """
    import json

    size = int(knobs.get("image_size", 32))
    model = ([f"model.pretrained={pretrained}", "optim.backbone_lr=0.01"] if pretrained
             else ["model.pretrained=null", "optim.backbone_lr=0.1"])
    return [f"data.data_root={data_root}", f"data.synthetic={json.dumps(knobs)}",
            f"data.resize_size={size + size // 8}", f"data.crop_size={size}",
            f"data.image_size={size}", *model, "optim.lr=0.1", f"optim.epochs={epochs}",
            f"optim.milestones=[{max(1, epochs - 2)}]", "eval.cam_step=0.01",
            "eval.checkpoint=last", f"eval.every={epochs}", f"runtime.seed={seed}",
            "runtime.quiet=true", "runtime.device=cpu"]


def run_entry(work_dir: str | Path, name: str, seed: int, *, pretrained: str | Path | None,
              epochs: int = SMOKE_EPOCHS) -> dict[str, Any]:
    """Train and test one entry of :data:`ENTRIES` for one seed (resumes a finished run:
    its ``final_metrics.json`` is reused). Returns a per-seed record (percent)."""
    from moana.io import read_json
    from moana.train.config import load_config
    from moana.train.fit import fit

    role, config, extra, knobs = ENTRIES[name]
    work = Path(work_dir)
    data_root = work / "data" / ("wsol_mark_hidden" if knobs.get("mark_hidden") else "wsol")
    run_dir = work / "runs" / f"{name}-seed{seed}"
    final_path = run_dir / "final_metrics.json"
    if final_path.is_file():
        final = read_json(final_path)
    else:
        if run_dir.exists():  # an interrupted run: start it again
            import shutil

            shutil.rmtree(run_dir)
        overrides = smoke_overrides(data_root, knobs, pretrained, seed, epochs) + list(extra)
        final = fit(load_config(config, overrides), run_dir=run_dir, quiet=True)
    return {"role": role, "method": name, "seed": seed, "top1": float(final["top1_cls"]),
            "MaxBoxAccV2": float(final["MaxBoxAccV2"])}


def reference_records(work_dir: str | Path, seeds: Iterable[int]) -> list[dict[str, Any]]:
    """Floor (center Gaussian) and ceiling (GT mask) records on the benchmark's test split."""
    from moana.data.metadata import load_wsol_metadata

    root = Path(work_dir) / "data" / "wsol"
    meta = load_wsol_metadata(root / "metadata" / "test")
    size = int(SMOKE_KNOBS["image_size"])
    floor = floor_metrics(meta, image_size=size)
    ceiling = ceiling_metrics(meta, root / "images", image_size=size)
    return [{"role": role, "method": method, "seed": s, **m}
            for s in seeds
            for role, method, m in (("floor", "center_gaussian", floor),
                                    ("ceiling", "gt_mask", ceiling))]
