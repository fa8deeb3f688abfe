"""Ablations, baselines and cost: what each part of MoANA buys.

MoANA (Sohn et al., Sci. Rep. 2023) argues for three mechanisms — triple-view (channel, height,
width) attention, attention expansion to a full (C, H, W) map, and feature calibration
``x * (a + b M)`` — and for fine-grained attention at a small cost compared with modules that give
coarse maps (SE, CBAM, ECA, coordinate attention) and with ADL, wsolevaluation's WSOL baseline.

This module holds

* :data:`VARIANTS` — every ablation as a *configuration* (a named dict of ``build_model``
  arguments), never as a code copy: axis subsets, calibrations, full vs depthwise axis
  convolutions, insertion point, the baselines and vanilla CAM;
* :func:`cost_table` — parameters, multiply-accumulates and CPU latency of ResNet-50 with each
  module, as ratios to the plain backbone, all measured in one run;
* :func:`run_ablation` — trains every variant for several seeds through :func:`moana.train.fit`
  (resumable; per-seed CSV), :func:`summarize` — mean ± std and which differences exceed the seed
  spread, and :func:`plot_ablation` — a figure with error bars.

Significance rule (documented in :func:`summarize`): a difference between two variants is called
larger than the seed spread when ``|Δmean| > k · pooled_std`` with ``pooled_std =
sqrt((s_a² + s_b²) / 2)`` (sample std over seeds, ``k = 2`` by default). With 3 seeds this is a
coarse screen, not a hypothesis test.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from moana.io import atomic_write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from moana.models import CAMNet

__all__ = [
    "VARIANTS",
    "SMOKE_VARIANTS",
    "SMOKE_OVERRIDES",
    "COST_VARIANTS",
    "DEFAULT_METRICS",
    "get_variants",
    "variant_table",
    "variant_model_kwargs",
    "variant_overrides",
    "build_variant_model",
    "cost_table",
    "run_ablation",
    "load_results",
    "summarize",
    "format_summary",
    "plot_ablation",
]

Variant = dict[str, Any]

# --------------------------------------------------------------------------------------------
# Variants as configurations
# --------------------------------------------------------------------------------------------


def _v(name: str, group: str, method: str, description: str, **attention_kw: Any) -> Variant:
    insert_at = attention_kw.pop("insert_at", "layer4")
    return {
        "name": name,
        "group": group,
        "method": method,
        "attention_kw": attention_kw,
        "insert_at": insert_at,
        "description": description,
    }


#: Every variant. ``moana`` is full MoANA as in the paper's WSOL code: axes chw, calibration
#: x·(1+M), full (C→C) axis convolutions, inserted at the end of layer4. Each ablation changes one
#: thing relative to it.
VARIANTS: tuple[Variant, ...] = (
    _v("cam", "reference", "cam", "vanilla CAM: backbone + classifier, no attention module"),
    _v("moana", "reference", "moana", "full MoANA: axes chw, x*(1+M), full axis conv, layer4"),
    _v("axes=c", "axes", "moana", "channel view only", axes="c"),
    _v("axes=h", "axes", "moana", "height view only", axes="h"),
    _v("axes=w", "axes", "moana", "width view only", axes="w"),
    _v("axes=ch", "axes", "moana", "channel + height views", axes="ch"),
    _v("axes=cw", "axes", "moana", "channel + width views", axes="cw"),
    _v("axes=hw", "axes", "moana", "height + width views (no channel branch)", axes="hw"),
    _v(
        "calib=0.35+0.65M",
        "calibration",
        "moana",
        "calibration x*(0.35+0.65M) (the WSSS code's)",
        calibration=(0.35, 0.65),
    ),
    _v("calib=M", "calibration", "moana", "no calibration: x*M", calibration=(0.0, 1.0)),
    _v(
        "conv=depthwise",
        "axis_conv",
        "moana",
        "depthwise (groups=C) height/width convolutions",
        axis_conv="depthwise",
    ),
    _v("insert=layer3", "insertion", "moana", "MoANA at the end of layer3", insert_at="layer3"),
    _v("se", "baseline", "se", "squeeze-excitation (channel gate)"),
    _v("cbam", "baseline", "cbam", "CBAM (channel gate + one spatial map)"),
    _v("eca", "baseline", "eca", "ECA (1-D conv channel gate)"),
    _v("coord_attn", "baseline", "coord_attn", "coordinate attention (H and W gates)"),
    _v("adl", "baseline", "adl", "ADL, drop rate 0.75, threshold 0.8 (training only)"),
)

#: Default variant list of the smoke profile: one per mechanism, cut down so that 3 seeds fit the
#: smoke budget (~5 min on 2 shared cores, see :data:`SMOKE_OVERRIDES`).
SMOKE_VARIANTS: tuple[str, ...] = (
    "cam", "moana", "axes=hw", "calib=M", "conv=depthwise", "se",
)

#: Overrides of the smoke ablation (on top of the ``smoke_moana`` config): a smaller synthetic
#: benchmark (30 train / 5 val / 10 test images per class, 4 classes), 3 epochs at a constant
#: learning rate, evaluation on val only after the last epoch.
SMOKE_OVERRIDES: tuple[str, ...] = (
    "data.synthetic.per_class={train: 30, val: 5, test: 10}",
    "optim.epochs=3",
    "optim.milestones=[]",
    "eval.every=1000",
)

#: Default for :func:`cost_table`: variants whose cost differs (calibration variants cost the same
#: as ``moana``; the other axis subsets lie between ``axes=c`` and ``moana``).
COST_VARIANTS: tuple[str, ...] = (
    "cam", "moana", "axes=c", "axes=hw", "conv=depthwise", "insert=layer3",
    "se", "cbam", "eca", "coord_attn", "adl",
)

#: Metrics reported by the runner and the summary (keys of the dict returned by ``fit``).
DEFAULT_METRICS: tuple[str, ...] = ("top1_cls", "MaxBoxAccV2", "PxAP")


def _by_name() -> dict[str, Variant]:
    return {v["name"]: v for v in VARIANTS}


def get_variants(names: Iterable[str | Mapping[str, Any]] | None = None) -> list[Variant]:
    """Variants by name (all when ``names`` is None); dicts are checked and passed through.

    A custom variant is a dict with at least ``name`` and ``method`` (and optionally
    ``attention_kw``, ``insert_at``, ``group``, ``description``).
    """
    if names is None:
        return [copy.deepcopy(v) for v in VARIANTS]
    if isinstance(names, str):
        names = [names]
    table = _by_name()
    out: list[Variant] = []
    for item in names:
        if isinstance(item, Mapping):
            if "name" not in item or "method" not in item:
                raise ValueError(f"a custom variant needs 'name' and 'method', got {dict(item)!r}")
            v = {
                "group": "custom",
                "attention_kw": {},
                "insert_at": "layer4",
                "description": "",
                **copy.deepcopy(dict(item)),
            }
        elif item in table:
            v = copy.deepcopy(table[item])
        else:
            raise ValueError(f"unknown ablation variant {item!r}; choose from {sorted(table)}")
        out.append(v)
    names_seen = [v["name"] for v in out]
    dupes = sorted({n for n in names_seen if names_seen.count(n) > 1})
    if dupes:
        raise ValueError(f"variant names must be unique, repeated: {dupes}")
    return out


def variant_table(variants: Iterable[str | Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """The variants as a DataFrame (one row each) for display."""
    rows = [
        {
            "name": v["name"],
            "group": v["group"],
            "method": v["method"],
            "attention_kw": json.dumps(v["attention_kw"]),
            "insert_at": v["insert_at"],
            "description": v["description"],
        }
        for v in get_variants(variants)
    ]
    return pd.DataFrame(rows).set_index("name")


def variant_model_kwargs(variant: str | Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`moana.models.build_model` for one variant."""
    (v,) = get_variants([variant])
    kw: dict[str, Any] = {"method": v["method"]}
    if v["method"] != "cam":
        kw["attention_kw"] = copy.deepcopy(v["attention_kw"])
        kw["insert_at"] = v["insert_at"]
    return kw


def build_variant_model(
    variant: str | Mapping[str, Any], arch: str = "resnet50", *, num_classes: int = 200, **kw: Any
) -> CAMNet:
    """Build ``arch`` with the variant's attention module (via :func:`moana.models.build_model`)."""
    from moana.models import build_model

    return build_model(arch, num_classes=num_classes, **variant_model_kwargs(variant), **kw)


def variant_overrides(variant: str | Mapping[str, Any]) -> list[str]:
    """Config overrides (``key=value`` strings for :func:`moana.train.config.load_config`)."""
    kw = variant_model_kwargs(variant)
    return [
        f"model.method={kw['method']}",
        f"model.attention_kw={json.dumps(kw.get('attention_kw', {}))}",
        f"model.insert_at={kw.get('insert_at', 'layer4')}",
    ]


# --------------------------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------------------------


def cost_table(
    variants: Iterable[str | Mapping[str, Any]] | None = None,
    *,
    arch: str = "resnet50",
    image_size: int = 224,
    num_classes: int = 200,
    repeats: int = 3,
    warmup: int = 1,
    model_kw: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Parameters, MACs and CPU forward latency of ``arch`` with each variant's module.

    ``variants`` defaults to :data:`COST_VARIANTS`; ``model_kw`` goes to ``build_model`` (e.g.
    ``{"output_stride": 16}``); the default ResNet-50 has output stride 8 (28x28 maps at 224, the
    official MoANA / wsolevaluation setting).

    All models are measured in the same run with batch 1 at ``image_size``; latency is the median
    of ``repeats`` timed forwards (after ``warmup``), with models timed round-robin so that a
    load change on a shared CPU affects all of them alike. Ratios are to the plain backbone
    (variant ``cam``, added when missing). MACs count convolutions and matrix products
    (``torch.utils.flop_counter``); elementwise gates (sigmoid, products) are not counted.
    """
    import torch

    from moana.models.cost import count_parameters, model_cost

    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    chosen = get_variants(COST_VARIANTS if variants is None else variants)
    if "cam" not in [v["name"] for v in chosen]:
        chosen = get_variants(["cam"]) + chosen
    x = torch.randn(1, 3, image_size, image_size)
    models = {}
    rows: dict[str, dict[str, Any]] = {}
    for v in chosen:
        model = build_variant_model(v, arch, num_classes=num_classes, **dict(model_kw or {}))
        counted = model_cost(model, image_size, batch_size=1, repeats=0, warmup=0)
        model.eval()
        rows[v["name"]] = {
            "group": v["group"],
            "params": counted.params,
            "attention_params": sum(count_parameters(m) for m in model.attention_modules()),
            "macs": counted.macs,
        }
        models[v["name"]] = model
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for _ in range(warmup):
            for model in models.values():
                model(x)
        for _ in range(repeats):
            for name, model in models.items():
                start = time.perf_counter()
                model(x)
                times[name].append(time.perf_counter() - start)
    for name in models:
        rows[name]["latency_ms"] = 1000.0 * statistics.median(times[name])
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "variant"
    base = df.loc["cam"]
    for col in ("params", "macs", "latency_ms"):
        df[f"{col}_ratio"] = df[col] / base[col]
    df.attrs.update(
        arch=arch, image_size=image_size, batch=1, repeats=repeats, threads=torch.get_num_threads()
    )
    return df


# --------------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------------

RESULTS_CSV = "results.csv"
_DONE = "ablation_metrics.json"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "variant"




def _scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float, np.integer, np.floating)):
            out[key] = float(value)
        elif hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
            out[key] = float(value.item())
    return out


def _default_fit(config_name: str) -> Callable[[list[str], Path, bool], Mapping[str, Any]]:
    def fit_one(overrides: list[str], run_dir: Path, resume: bool) -> Mapping[str, Any]:
        from moana.train import fit
        from moana.train.config import load_config

        return fit(load_config(config_name, overrides), run_dir=run_dir, resume=resume)

    return fit_one


def run_ablation(
    out_dir: str | os.PathLike,
    variants: Iterable[str | Mapping[str, Any]] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    config: str = "smoke_moana",
    epochs: int | None = None,
    overrides: Sequence[str] = (),
    data_root: str | os.PathLike | None = None,
    resume: bool = True,
    fit_fn: Callable[[list[str], Path, bool], Mapping[str, Any]] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train every (variant, seed) and return the per-seed results (also ``out_dir/results.csv``).

    Args:
        out_dir: results directory; run ``v`` / seed ``s`` goes to ``runs/<v>/seed<s>/``.
        variants: names from :data:`VARIANTS` or custom dicts (default :data:`SMOKE_VARIANTS`).
        seeds: training seeds (``runtime.seed=<s>`` override).
        config: config name or path for :func:`moana.train.config.load_config`.
        epochs: if given, the ``optim.epochs`` override.
        overrides: further overrides applied to every run, last (e.g. a smaller synthetic
            dataset: ``data.synthetic.per_class={train: 20, val: 5, test: 10}``).
        data_root: the ``data.data_root`` override. Default: ``out_dir/data`` when the config's
            dataset is ``synthetic`` (generated there on first use, shared by all runs, so a
            differently sized benchmark elsewhere does not clash), else the config's.
        resume: skip runs whose ``ablation_metrics.json`` exists (finished earlier) and continue
            interrupted runs from their last checkpoint. With ``resume=False`` every requested
            run is trained again from scratch (its old run directory is deleted first).
        fit_fn: ``fit_fn(overrides, run_dir, resume) -> metrics``; default loads ``config``
            with the overrides and calls :func:`moana.train.fit`.

    Each run's overrides are ``runtime.quiet=true``, the variant's ``model.*`` keys,
    ``runtime.seed``, ``optim.epochs`` (if ``epochs``), ``data.data_root``, then ``overrides``.
    The smoke profile passes ``overrides=SMOKE_OVERRIDES`` (about 5-15 s per run on 2 cores).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = get_variants(SMOKE_VARIANTS if variants is None else variants)
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct ints, got {seeds!r}")
    if fit_fn is None:
        from moana.train.config import load_config

        # fail early on a bad config or override, before any run starts
        base = load_config(config, list(overrides))
        if data_root is None and base.data.dataset == "synthetic":
            data_root = out / "data"
    slugs = [_slug(v["name"]) for v in chosen]
    clash = sorted({x for x in slugs if slugs.count(x) > 1})
    if clash:
        raise ValueError(f"variant names map to the same run directory {clash}; rename them")
    fit_one = fit_fn or _default_fit(config)
    from moana.train.records import CHECKPOINT_DIR
    jobs = [(v, s) for v in chosen for s in seeds]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="ablation", unit="run")
    try:
        for v, seed in jobs:
            run_dir = out / "runs" / _slug(v["name"]) / f"seed{seed}"
            done = run_dir / _DONE
            if resume and done.is_file():
                if bar is not None:
                    bar.update(1)
                continue
            run_overrides = ["runtime.quiet=true", *variant_overrides(v), f"runtime.seed={seed}"]
            if epochs is not None:
                run_overrides.append(f"optim.epochs={int(epochs)}")
            if data_root is not None:
                run_overrides.append(f"data.data_root={Path(data_root)}")
            run_overrides.extend(overrides)
            if bar is not None:
                bar.set_postfix_str(f"{v['name']} seed {seed}")
            continue_run = resume and (run_dir / CHECKPOINT_DIR / "last.pt").is_file()
            if not continue_run and run_dir.exists():
                shutil.rmtree(run_dir)  # an unfinished run without checkpoint, or a rerun
            start = time.perf_counter()
            metrics = fit_one(run_overrides, run_dir, continue_run)
            record = {
                "variant": v["name"],
                "group": v["group"],
                "method": v["method"],
                "seed": seed,
                "seconds": time.perf_counter() - start,
                "overrides": run_overrides,
                "metrics": _scalar_metrics(metrics),
            }
            atomic_write_text(done, json.dumps(record, indent=2))
            _write_results_csv(out, [x["name"] for x in chosen], seeds)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return _write_results_csv(out, [x["name"] for x in chosen], seeds)


def load_results(out_dir: str | os.PathLike) -> pd.DataFrame:
    """Per-seed results of every finished run under ``out_dir`` (one row per variant and seed)."""
    out = Path(out_dir)
    rows = []
    for path in sorted(out.glob(f"runs/*/seed*/{_DONE}")):
        try:
            rec = json.loads(path.read_text())
            ident = {k: rec[k] for k in ("variant", "group", "method", "seed", "seconds")}
            rows.append(ident | {k: v for k, v in rec["metrics"].items() if k not in ident})
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a valid ablation record ({err})") from None
    cols = ["variant", "group", "method", "seed", "seconds"]
    df = pd.DataFrame(rows, columns=None if rows else cols)
    if len(df):  # the order of VARIANTS, then custom variants by name
        rank = {v["name"]: i for i, v in enumerate(VARIANTS)}
        df = df.assign(_r=df["variant"].map(lambda n: rank.get(n, len(rank))))
        df = df.sort_values(["_r", "variant", "seed"], kind="stable").drop(columns="_r")
    return df.reset_index(drop=True)


def _write_results_csv(out: Path, order: list[str], seeds: list[int]) -> pd.DataFrame:
    """Rewrite ``results.csv`` with every finished run; return this request's rows in its order."""
    df = load_results(out)
    atomic_write_text(out / RESULTS_CSV, df.to_csv(index=False))
    if not len(df):
        return df
    df = df[df["variant"].isin(order) & df["seed"].isin(seeds)]
    rank = {n: i for i, n in enumerate(order)}
    df = df.assign(_r=df["variant"].map(rank)).sort_values(["_r", "seed"], kind="stable")
    return df.drop(columns="_r").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Summary and figure
# --------------------------------------------------------------------------------------------


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


def plot_ablation(
    results: pd.DataFrame,
    metric: str = "MaxBoxAccV2",
    *,
    reference: str | None = "cam",
    ax=None,
    title: str | None = None,
) -> Figure:
    """Mean ± std of ``metric`` per variant (points = seeds); returns the matplotlib Figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if metric not in results.columns:
        raise ValueError(f"metric {metric!r} not in results columns {list(results.columns)}")
    order = list(dict.fromkeys(results["variant"]))
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(order) + 2.0), 3.8))
    else:
        fig = ax.figure
    sns.pointplot(
        data=results, x="variant", y=metric, order=order, errorbar="sd", linestyle="none",
        capsize=0.3, color="black", markers="D", ax=ax,
    )
    sns.stripplot(
        data=results, x="variant", y=metric, order=order, color="tab:blue", alpha=0.5, size=4,
        jitter=0.15, ax=ax,
    )
    if reference is not None and reference in order:
        ref_mean = results.loc[results["variant"] == reference, metric].mean()
        ax.axhline(
            ref_mean, color="tab:red", linestyle="--", linewidth=1, label=f"{reference} mean"
        )
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("")
    ax.set_ylabel(metric)
    ax.tick_params(axis="x", rotation=60)
    for lbl in ax.get_xticklabels():
        lbl.set_horizontalalignment("right")
    n = results.groupby("variant")["seed"].nunique()
    seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}-{n.max()}"
    ax.set_title(title or f"{metric}: mean ± std over {seeds} seeds", fontsize=10)
    fig.tight_layout()
    return fig
