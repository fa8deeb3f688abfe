"""The benchmark-validity table builder: columns, pairing, floor and ceiling references."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from moana.data.metadata import load_wsol_metadata
from moana.data.synthetic import make_wsol_dataset
from moana.experiments.benchmark import (COLUMNS, ceiling_metrics, floor_metrics, plot_validity,
                                         validity_frame, validity_rows, write_validity_csv)
from moana.experiments.statistics import paired_difference

CAM = [60.0, 64.0, 58.0, 66.0, 62.0]
HIDDEN = [68.0, 69.0, 65.0, 71.0, 70.0]


def _records() -> list[dict]:
    recs = []
    for s in range(5):
        recs.append({"role": "baseline", "method": "cam", "seed": s, "top1": 97.0 + s % 2,
                     "MaxBoxAccV2": CAM[s]})
        recs.append({"role": "control", "method": "cam_mark_hidden", "seed": s, "top1": 96.0,
                     "MaxBoxAccV2": HIDDEN[s]})
        recs.append({"role": "floor", "method": "center_gaussian", "seed": s, "top1": math.nan,
                     "MaxBoxAccV2": 30.0})
        recs.append({"role": "ceiling", "method": "gt_mask", "seed": s, "top1": math.nan,
                     "MaxBoxAccV2": 100.0})
    return recs


def test_rows_columns_order_and_pairing(tmp_path: Path) -> None:
    rows = validity_rows(_records())
    assert [r["role"] for r in rows] == ["floor", "baseline", "control", "ceiling"]
    assert all(list(r) == list(COLUMNS) for r in rows)
    control = rows[2]
    expected = paired_difference(HIDDEN, CAM)
    assert control["n_seeds"] == 5
    assert control["MaxBoxAccV2_mean"] == pytest.approx(np.mean(HIDDEN))
    assert control["MaxBoxAccV2_std"] == pytest.approx(np.std(HIDDEN, ddof=1))
    assert (control["delta_vs_cam_mean"], control["delta_vs_cam_ci_low"],
            control["delta_vs_cam_ci_high"]) == pytest.approx(
                (expected.mean, expected.low, expected.high))
    cam = rows[1]
    assert cam["delta_vs_cam_mean"] == cam["delta_vs_cam_ci_low"] == 0.0
    assert cam["top1_std"] == pytest.approx(np.std([97, 98, 97, 98, 97], ddof=1))
    floor = rows[0]
    assert math.isnan(floor["top1_mean"]) and floor["MaxBoxAccV2_std"] == 0.0
    assert floor["delta_vs_cam_mean"] == pytest.approx(30.0 - np.mean(CAM))
    assert list(validity_frame(_records()).columns) == list(COLUMNS)
    path = write_validity_csv(rows, tmp_path / "t.csv")
    with open(path) as f:
        table = list(csv.reader(f))
    assert table[0] == list(COLUMNS) and table[1][3] == "" and len(table) == 5
    fig = plot_validity(rows, tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 1000 and len(fig.axes) == 2


def test_unpaired_or_bad_records_raise() -> None:
    recs = _records()
    with pytest.raises(ValueError, match="same seeds"):
        validity_rows([r for r in recs if not (r["method"] == "cam_mark_hidden" and r["seed"] == 4)])
    with pytest.raises(ValueError, match="baseline"):
        validity_rows([r for r in recs if r["method"] != "cam"])
    with pytest.raises(ValueError, match="role"):
        validity_rows(recs + [{"role": "other", "method": "x", "seed": 0, "MaxBoxAccV2": 1.0}])
    with pytest.raises(ValueError, match="twice"):
        validity_rows(recs + [recs[0]])


def test_floor_and_ceiling_on_synthetic_data(tmp_path: Path) -> None:
    syn = make_wsol_dataset(tmp_path / "w", num_classes=2, image_size=32,
                            per_class={"train": 1, "val": 1, "test": 6})
    meta = load_wsol_metadata(syn.split_dir("test"))
    ceiling = ceiling_metrics(meta, syn.data_root, image_size=32)
    assert ceiling["MaxBoxAccV2"] == pytest.approx(100.0) and math.isnan(ceiling["top1"])
    floor = floor_metrics(meta, image_size=32)
    assert 0.0 <= floor["MaxBoxAccV2"] < ceiling["MaxBoxAccV2"]


def test_validity_from_ablation_results(tmp_path: Path) -> None:
    """The trained entries come from the ablation runner's per-seed table; roles follow the
    variant's name (baseline) and group (control); floor and ceiling repeat for CAM's seeds."""
    import pandas as pd

    from moana.experiments.benchmark import benchmark_validity, role_of, trained_records

    rows = []
    for s in range(5):
        rows += [{"variant": "cam", "group": "reference", "seed": s, "top1_cls": 97.0,
                  "MaxBoxAccV2": CAM[s]},
                 {"variant": "cam+mark_hidden", "group": "control", "seed": s, "top1_cls": 95.0,
                  "MaxBoxAccV2": HIDDEN[s]},
                 {"variant": "axes=c", "group": "axes", "seed": s, "top1_cls": 90.0,
                  "MaxBoxAccV2": 50.0}]
    results = pd.DataFrame(rows)
    assert [role_of(v, g) for v, g in [("cam", "reference"), ("has", "control"),
                                       ("moana", "reference")]] == ["baseline", "control", "method"]
    recs = trained_records(results, ["cam", "cam+mark_hidden"])
    assert {r["method"] for r in recs} == {"cam", "cam+mark_hidden"} and len(recs) == 10
    syn = make_wsol_dataset(tmp_path / "w", num_classes=2, image_size=32,
                            per_class={"train": 1, "val": 1, "test": 4})
    meta = load_wsol_metadata(syn.split_dir("test"))
    table = benchmark_validity(results, meta, syn.data_root, image_size=32)
    assert [r["role"] for r in table] == ["floor", "baseline", "control", "method", "ceiling"]
    control = table[2]
    expected = paired_difference(HIDDEN, CAM)
    assert (control["delta_vs_cam_ci_low"], control["delta_vs_cam_ci_high"]) == pytest.approx(
        (expected.low, expected.high))
    assert table[-1]["MaxBoxAccV2_mean"] == pytest.approx(100.0) and table[-1]["n_seeds"] == 5
