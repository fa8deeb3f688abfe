"""Numbers published by wsolevaluation (Choe et al., CVPR 2020, "Evaluating weakly supervised
object localization methods right"; clovaai/wsolevaluation ``main_table.png``), for the
``reported`` columns of the comparison tables.

Source file: ``moana/experiments/data/wsolevaluation_main_table.csv`` (transcribed by hand from
the published image; see ``data/README.md``).  Values are percent: MaxBoxAccV2 on ILSVRC and CUB,
PxAP on OpenImages, test split, last checkpoint, hyperparameters searched on ``train-fullsup``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["REPORTED_SOURCE", "join_reported", "reported_table"]

REPORTED_SOURCE = (
    "wsolevaluation main table (Choe et al., CVPR 2020; github.com/clovaai/wsolevaluation, main_table.png)"
)
DATA_FILE = Path(__file__).with_name("data") / "wsolevaluation_main_table.csv"

#: printed method name -> our method key
METHOD_KEYS = {
    "CAM": "cam", "HaS": "has", "ACoL": "acol", "SPG": "spg", "ADL": "adl", "CutMix": "cutmix",
    "Best WSOL": "best_wsol", "FSL baseline": "fsl", "Center baseline": "center",
}
_DATASETS = {"ilsvrc": "ILSVRC", "imagenet": "ILSVRC", "cub": "CUB", "openimages": "OpenImages"}
_KEYS = ["dataset", "arch", "method", "metric"]


def reported_table(path: str | Path | None = None) -> pd.DataFrame:
    """The published table as a DataFrame.

    Columns: ``dataset`` (ILSVRC, CUB, OpenImages), ``arch`` (vgg16, inception_v3, resnet50,
    mean), ``method`` (our keys: cam, has, acol, spg, adl, cutmix, best_wsol, fsl, center),
    ``method_label`` (as printed), ``metric`` (MaxBoxAccV2 or PxAP), ``reported`` (percent),
    ``printed_as`` (``absolute`` or ``delta_to_CAM <printed difference>``).  Raises ValueError naming the
    file (and line) on a malformed row."""
    path = Path(path) if path is not None else DATA_FILE
    df = pd.read_csv(path, dtype={"printed_as": str})
    expected = {"dataset", "backbone", "method", "metric", "value", "printed_as"}
    if not expected <= set(df.columns):
        raise ValueError(f"{path}: columns {sorted(df.columns)} lack {sorted(expected - set(df.columns))}")
    unknown = df.index[~df["method"].isin(list(METHOD_KEYS))]
    if len(unknown):
        row = int(unknown[0])
        raise ValueError(f"{path}:{row + 2}: unknown method {df.loc[row, 'method']!r}")
    out = pd.DataFrame({
        "dataset": df["dataset"], "arch": df["backbone"], "method": df["method"].map(METHOD_KEYS),
        "method_label": df["method"], "metric": df["metric"], "reported": df["value"].astype(float),
        "printed_as": df["printed_as"],
    })
    return out.reset_index(drop=True)


def _normalize(results: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _KEYS if c not in results.columns]
    if missing:
        raise ValueError(f"results need columns {_KEYS}; missing {missing}")
    out = results.copy()
    out["dataset"] = [_DATASETS.get(str(d).lower(), d) for d in out["dataset"]]
    labels = {k.lower(): v for k, v in METHOD_KEYS.items()}
    out["method"] = [labels.get(str(m).lower(), str(m).lower()) for m in out["method"]]
    return out


def join_reported(results: pd.DataFrame, reported: pd.DataFrame | None = None) -> pd.DataFrame:
    """``results`` (rows with ``dataset``, ``arch``, ``method``, ``metric`` and any value
    columns) with a ``reported`` column beside: the published number for the same keys, NaN
    where wsolevaluation published none (e.g. MoANA, or MaxBoxAccV2 on OpenImages).

    Dataset names are matched case-insensitively (``imagenet`` = ILSVRC) and method names by
    our keys or the printed labels (``CAM`` = ``cam``); they are returned normalized.  Raises
    ValueError when a key column is missing."""
    reported = reported_table() if reported is None else reported
    left = _normalize(results)
    right = reported[[*_KEYS, "reported"]]
    return left.merge(right, on=_KEYS, how="left", validate="many_to_one")
