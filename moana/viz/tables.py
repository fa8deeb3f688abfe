"""Result tables: CSV plus a rendered Markdown copy, with a caption side file for results/README.

The WSOL comparison follows the paper's Table (Sohn et al., "MoANA", Sci. Rep. 2023): CAM vs MoANA
per backbone with top-1 classification, top-1 / GT-known localization and MaxBoxAccV2 with its
IoU 30/50/70 parts (Choe et al., CVPR 2020), PxAP where masks exist, and the center-Gaussian
baseline as a floor. Numbers published in the paper appear in a separate ``reported`` column.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from moana.io import atomic_write, atomic_write_text
from moana.metrics.common import primary_metric
from moana.viz._io import write_meta

REPORTED_SOURCE = "MoANA, Sci. Rep. 2023 (Sohn et al.), doi:10.1038/s41598-023-45796-8"
#: (dataset, backbone, method, metric) -> value published in the paper. Left EMPTY on purpose: the
#: paper's tables could not be retrieved reliably while writing this kit, and invented numbers
#: would be worse than none. Fill in from the paper (with the table number) to show them.
REPORTED: dict[tuple[str, str, str, str], float] = {}

#: canonical column -> accepted keys in metric dicts (train/eval outputs, BoxEvaluator.compute()).
WSOL_COLUMNS: dict[str, tuple[str, ...]] = {
    "top1_cls": ("top1_cls", "top1", "top1_acc", "classification", "acc", "accuracy"),
    "top1_loc": ("top1_loc", "top1_localization"),
    "gt_known_loc": ("gt_known_loc", "GT-known loc", "gt_known", "MaxBoxAcc"),
    "MaxBoxAccV2": ("MaxBoxAccV2", "maxboxaccv2", "max_box_acc_v2"),
    "IoU30": ("MaxBoxAcc@30", "iou30", "IoU30"),
    "IoU50": ("MaxBoxAcc@50", "iou50", "IoU50"),
    "IoU70": ("MaxBoxAcc@70", "iou70", "IoU70"),
    "PxAP": ("PxAP", "pxap"),
}


def _find(metrics: Mapping[str, Any], keys: Iterable[str]) -> float:
    flat = dict(metrics)
    for value in list(metrics.values()):  # one level of nesting ({"box": {...}, "mask": {...}})
        if isinstance(value, Mapping):
            for k, v in value.items():
                flat.setdefault(k, v)
    for key in keys:
        value = flat.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return math.nan


def wsol_row(backbone: str, method: str, metrics: Mapping[str, Any],
             hparams: str = "default") -> dict[str, Any]:
    """One comparison-table row from a metrics dict (missing metrics become NaN); ``hparams``
    says where the run's hyperparameters come from (``default`` or the search)."""
    row: dict[str, Any] = {"backbone": backbone, "method": method, "hparams": hparams}
    for column, keys in WSOL_COLUMNS.items():
        row[column] = _find(metrics, keys)
    return row


#: what the protocol columns mean (stated in the comparison table's notes)
PROTOCOL_NOTE = (
    "`hparams`: `default` = the shipped config; `searched` = the best trial of a search scored on "
    "val (train-fullsup) only, then trained once and evaluated on test. Every run is evaluated at "
    "its last checkpoint; top-1 and GT-known loc use the CAM threshold chosen on val; MaxBoxAccV2 "
    "and PxAP are threshold-free by definition (the best threshold of the evaluated split, as "
    "wsolevaluation defines them). No number here is chosen on test.")

#: how the verdict column reads the distance to the reported number (stated in captions)
VERDICT_RULE = ("verdict: `within` when |Δ to reported| ≤ 2 × the std over seeds, `outside` "
                "otherwise; `one seed` when there is no spread to judge by, `no reported` when "
                "nothing was published")


def _verdict(delta: float, std: float, seeds: int) -> str:
    if math.isnan(delta):
        return "no reported"
    if seeds < 2 or math.isnan(std):
        return "one seed"
    return "within" if abs(delta) <= 2 * std else "outside"


def wsol_comparison_table(rows: Iterable[Mapping[str, Any]], *, dataset: str) -> pd.DataFrame:
    """Rows (see :func:`wsol_row`; one per run, several seeds of a cell allowed) -> the
    comparison table: per (backbone, method, hparams) the mean of each metric over seeds, the
    number of seeds, the std of the primary metric (:func:`primary_metric`), the ``reported``
    MaxBoxAccV2 and PxAP (:func:`reported_values`, percent), ``Δ to reported`` (ours − reported,
    primary metric) and the verdict (:data:`VERDICT_RULE`).

    Metric columns that are NaN in every row (e.g. PxAP without masks) are dropped; the
    ``reported`` columns are kept even when empty, so readers see that they were looked for.
    """
    table = pd.DataFrame(list(rows))
    if table.empty:
        raise ValueError("no runs to tabulate: did stage 01_train_wsol write any run?")
    for column in ("backbone", "method"):
        if column not in table:
            raise ValueError(f"rows need a {column!r} entry, got columns {list(table.columns)}")
    if "hparams" not in table:
        table["hparams"] = "default"
    metric_cols = [c for c in WSOL_COLUMNS if c in table and table[c].notna().any()]
    primary = primary_metric(dataset)
    keys = ["backbone", "method", "hparams"]
    grouped = table.groupby(keys, sort=False, dropna=False)
    out = grouped[metric_cols].mean().reset_index()
    out.insert(3, "seeds", grouped.size().to_numpy())
    if primary in metric_cols:
        out[f"{primary} std"] = grouped[primary].std(ddof=1).to_numpy()
    for metric in ("MaxBoxAccV2", "PxAP"):
        out[f"reported {metric}"] = reported_values(dataset, out["backbone"], out["method"],
                                                    metric)
    ours = out[primary] if primary in out else pd.Series(math.nan, index=out.index)
    out["Δ to reported"] = ours - out[f"reported {primary}"]
    std = out.get(f"{primary} std", pd.Series(math.nan, index=out.index))
    out["verdict"] = [_verdict(d, s, n) for d, s, n in zip(out["Δ to reported"], std, out["seeds"])]
    order = {"center baseline": 0, "cam": 1}
    out["_order"] = [order.get(str(m).lower(), 2) for m in out["method"]]
    return (out.sort_values(["backbone", "_order", "method", "hparams"])
            .drop(columns="_order").reset_index(drop=True))


def to_markdown(table: pd.DataFrame, *, floatfmt: str = ".2f") -> str:
    """GitHub Markdown of a table; NaN shows as an empty cell, floats use ``floatfmt`` and strings
    stay as written (tabulate would otherwise read "+2.5" as a number and drop the sign)."""
    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, float):
            return format(value, floatfmt)
        return str(value)

    columns = [str(c) for c in table.columns]
    rows = [[cell(v) for v in row] for row in table.astype(object).itertuples(index=False)]
    align = ["right" if pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])
             else "left" for c in table.columns]
    from tabulate import tabulate

    return tabulate(rows, headers=columns, tablefmt="pipe", disable_numparse=True, colalign=align)


def save_table(
    table: pd.DataFrame,
    name: str,
    output_dir: str | Path,
    *,
    caption: str,
    dataset: str,
    synthetic: bool,
    floatfmt: str = ".2f",
    notes: str | None = None,
    command: str | None = None,
) -> Path:
    """Write ``<output_dir>/tables/<name>.csv``, ``<name>.md`` and ``<name>.meta.json``.

    ``caption`` is the one line results/README.md shows for this table; ``command``, the shell
    command that regenerates one of its cells (shown there too).
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad table name {name!r}")
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table {name}: expected a pandas DataFrame, got {type(table).__name__}")
    folder = Path(output_dir) / "tables"
    csv = folder / f"{name}.csv"
    atomic_write(csv, lambda tmp: table.to_csv(tmp, index=False))
    label = f"{dataset} (synthetic)" if synthetic and "synthetic" not in dataset.lower() else dataset
    md = [f"**{caption.strip()}** — data: {label}", "", to_markdown(table, floatfmt=floatfmt)]
    if notes:
        md += ["", notes.strip()]
    atomic_write_text(folder / f"{name}.md", "\n".join(md) + "\n")
    write_meta(csv, kind="table", caption=caption, dataset=dataset, synthetic=synthetic,
               extra={"rows": int(len(table)), "columns": [str(c) for c in table.columns],
                      **({"command": command} if command else {})})
    return csv


REPORTED_NOTE = (
    "`reported`: numbers published by wsolevaluation (Choe et al., CVPR 2020, the main table of "
    "clovaai/wsolevaluation; shipped in moana/experiments/data/) for CAM, HaS, ACoL, SPG, ADL, "
    "CutMix and the center baseline on the same dataset and backbone, shown beside ours. MoANA's "
    f"own published numbers ({REPORTED_SOURCE}) could not be retrieved reliably and are left empty; "
    "so is every row of the synthetic benchmark."
)


def reported_values(dataset: str, backbones: Iterable[str], methods: Iterable[str],
                    metric: str) -> list[float]:
    """Published numbers (percent) for each (backbone, method) on ``dataset``: wsolevaluation's
    main table (:func:`moana.experiments.reported.reported_table`) for its methods and the center
    baseline, :data:`REPORTED` (MoANA's paper, empty) otherwise; NaN where none was published."""
    from moana.experiments.reported import reported_table

    table = reported_table()
    table = table[table["metric"] == metric]
    published = {(d.lower(), a, m): v for d, a, m, v in
                 zip(table["dataset"], table["arch"], table["method"], table["reported"])}
    out = []
    for backbone, method in zip(backbones, methods):
        key = "center" if str(method).lower() == "center baseline" else str(method).lower()
        value = published.get((str(dataset).lower(), str(backbone), key))
        if value is None:
            value = REPORTED.get((dataset, backbone, method, metric), math.nan)
        out.append(float(value))
    return out
