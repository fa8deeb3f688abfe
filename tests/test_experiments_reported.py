"""moana.experiments.reported: the published wsolevaluation table and the join beside ours."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from moana.experiments.reported import join_reported, reported_table


def test_reported_table_has_every_method_backbone_and_dataset() -> None:
    df = reported_table()
    assert set(df["method"]) == {"cam", "has", "acol", "spg", "adl", "cutmix", "best_wsol", "fsl", "center"}
    assert set(df["arch"]) == {"vgg16", "inception_v3", "resnet50", "mean"}
    assert set(df["dataset"]) == {"ILSVRC", "CUB", "OpenImages"}
    assert not df.duplicated(["dataset", "arch", "method", "metric"]).any()
    cam = df.set_index(["dataset", "arch", "method", "metric"])["reported"]
    assert cam[("ILSVRC", "vgg16", "cam", "MaxBoxAccV2")] == 60.0  # main_table.png, first cell
    # the five methods are printed as differences to CAM: value = CAM + delta
    for _, row in df[df["printed_as"] != "absolute"].iterrows():
        base = cam[(row["dataset"], row["arch"], "cam", row["metric"])]
        delta = float(row["printed_as"].split()[-1])  # "delta_to_CAM +0.6"
        assert row["reported"] == pytest.approx(base + delta, abs=0.051)


def test_join_reported_puts_published_numbers_beside_ours() -> None:
    ours = pd.DataFrame({
        "dataset": ["cub", "CUB", "imagenet"], "arch": ["resnet50", "resnet50", "vgg16"],
        "method": ["CAM", "moana", "cam"], "metric": ["MaxBoxAccV2"] * 3, "value": [61.0, 70.0, 59.5],
    })
    out = join_reported(ours)
    assert list(out["dataset"]) == ["CUB", "CUB", "ILSVRC"] and list(out["method"]) == ["cam", "moana", "cam"]
    assert out.loc[0, "reported"] == reported_table().query(
        "dataset == 'CUB' and arch == 'resnet50' and method == 'cam' and metric == 'MaxBoxAccV2'")["reported"].item()
    assert math.isnan(out.loc[1, "reported"]) and out.loc[2, "reported"] == 60.0
    with pytest.raises(ValueError, match="missing \\['metric'\\]"):
        join_reported(ours.drop(columns="metric"))


def test_bad_table_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("dataset,backbone,method,metric,value,printed_as\nCUB,vgg16,Foo,MaxBoxAccV2,1.0,absolute\n")
    with pytest.raises(ValueError, match=r"t.csv:2: unknown method 'Foo'"):
        reported_table(path)
