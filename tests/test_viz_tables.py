"""moana.viz.tables / report / baselines: CSV + Markdown + captions, the comparison table, README."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from moana.data.metadata import WSOLMetadata
from moana.viz import tables
from moana.metrics.baselines import center_gaussian, evaluate_center_baseline
from moana.viz.report import render_results_readme, write_results_readme


def test_save_table_writes_csv_md_and_caption(tmp_path):
    df = pd.DataFrame({"method": ["cam", "moana"], "MaxBoxAccV2": [50.0, math.nan]})
    path = tables.save_table(df, "demo", tmp_path, caption="A demo table", dataset="toy", synthetic=True)
    assert path == tmp_path / "tables" / "demo.csv"
    assert pd.read_csv(path).shape == (2, 2)
    md = (tmp_path / "tables" / "demo.md").read_text()
    assert "A demo table" in md and "toy (synthetic)" in md and "| cam" in md and "50.00" in md
    meta = json.loads((tmp_path / "tables" / "demo.meta.json").read_text())
    assert meta == {"kind": "table", "caption": "A demo table", "dataset": "toy", "synthetic": True,
                    "rows": 2, "columns": ["method", "MaxBoxAccV2"]}
    assert not list((tmp_path / "tables").glob(".*"))  # no temp files left


@pytest.mark.parametrize("name", ["", "a/b", ".hidden"])
def test_save_table_rejects_bad_names(tmp_path, name):
    with pytest.raises(ValueError, match="bad table name"):
        tables.save_table(pd.DataFrame({"a": [1]}), name, tmp_path, caption="x", dataset="d", synthetic=False)


def test_caption_must_be_one_line(tmp_path):
    with pytest.raises(ValueError, match="one non-empty line"):
        tables.save_table(pd.DataFrame({"a": [1]}), "t", tmp_path, caption="two\nlines", dataset="d",
                          synthetic=False)


def test_wsol_row_reads_train_and_evaluator_keys():
    row = tables.wsol_row("resnet50", "moana", {"top1_cls": 80.0, "top1_loc": 60.0, "gt_known_loc": 70.0,
                                                "MaxBoxAccV2": 65.0, "MaxBoxAcc@30": 90.0,
                                                "MaxBoxAcc@50": 70.0, "MaxBoxAcc@70": 35.0,
                                                "mask": {"PxAP": 55.0}})
    assert row["IoU30"] == 90.0 and row["PxAP"] == 55.0 and row["top1_loc"] == 60.0
    evaluator_only = tables.wsol_row("r", "center baseline", {"MaxBoxAcc": 50.0, "MaxBoxAccV2": 40.0})
    assert evaluator_only["gt_known_loc"] == 50.0 and math.isnan(evaluator_only["top1_cls"])


def test_comparison_table_orders_drops_empty_and_keeps_reported():
    rows = [tables.wsol_row("small", m, {"MaxBoxAccV2": v, "top1_cls": 1.0})
            for m, v in (("moana", 3.0), ("center baseline", 1.0), ("cam", 2.0))]
    table = tables.wsol_comparison_table(rows, dataset="synthetic")
    assert list(table["method"]) == ["center baseline", "cam", "moana"]
    assert "PxAP" not in table and "top1_loc" not in table
    assert "reported MaxBoxAccV2" in table and table["reported MaxBoxAccV2"].isna().all()
    with pytest.raises(ValueError, match="no runs"):
        tables.wsol_comparison_table([], dataset="x")


def test_comparison_table_averages_seeds_and_judges_the_distance_to_reported():
    rows = [tables.wsol_row("resnet50", "cam", {"MaxBoxAccV2": v}) for v in (62.0, 64.0, 63.0)]
    rows += [tables.wsol_row("resnet50", "cam", {"MaxBoxAccV2": 70.0}, hparams="searched (x)")]
    rows += [tables.wsol_row("resnet50", "moana", {"MaxBoxAccV2": v}) for v in (60.0, 61.0)]
    table = tables.wsol_comparison_table(rows, dataset="CUB").set_index(["method", "hparams"])
    default = table.loc[("cam", "default")]
    assert default["seeds"] == 3 and default["MaxBoxAccV2"] == pytest.approx(63.0)
    assert default["MaxBoxAccV2 std"] == pytest.approx(1.0)
    assert default["reported MaxBoxAccV2"] == 63.0  # wsolevaluation's CUB ResNet-50 CAM
    assert default["Δ to reported"] == pytest.approx(0.0) and default["verdict"] == "within"
    off = tables.wsol_comparison_table(
        [tables.wsol_row("resnet50", "cam", {"MaxBoxAccV2": v}) for v in (50.0, 51.0)],
        dataset="CUB")
    assert off.loc[0, "Δ to reported"] == pytest.approx(-12.5) and off.loc[0, "verdict"] == "outside"
    assert table.loc[("cam", "searched (x)")]["verdict"] == "one seed"
    assert table.loc[("moana", "default")]["verdict"] == "no reported"  # MoANA: none published
    assert tables.primary_metric("OpenImages") == "PxAP"


def test_center_gaussian_and_baseline_scores_centered_boxes(tmp_path):
    g = center_gaussian(32, 0.25)
    assert g.shape == (32, 32) and g.max() == pytest.approx(1.0) and g.min() > 0
    assert np.unravel_index(g.argmax(), g.shape) in {(15, 15), (15, 16), (16, 15), (16, 16)}
    ids = ["a.png", "b.png"]
    meta = WSOLMetadata(directory=tmp_path, image_ids=ids, class_labels={i: 0 for i in ids},
                        image_sizes={i: (64, 64) for i in ids},
                        boxes={"a.png": [(16, 16, 48, 48)], "b.png": [(0, 0, 10, 10)]})
    result = evaluate_center_baseline(meta, image_size=32, step=0.05)
    assert result["MaxBoxAcc"] == pytest.approx(50.0)  # the centered box is found, the corner one not
    with pytest.raises(ValueError):
        center_gaussian(0)


def test_results_readme_lists_every_table_and_figure(tmp_path):
    tables.save_table(pd.DataFrame({"a": [1]}), "wsol_comparison", tmp_path, caption="The comparison",
                      dataset="CUB", synthetic=False)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "curve.png").write_bytes(b"")
    (tmp_path / "figures" / "curve.meta.json").write_text(json.dumps(
        {"kind": "figure", "caption": "A curve", "dataset": "synthetic", "synthetic": True,
         "formats": ["png", "pdf"]}))
    manifest = {"profile": "smoke", "commit": "abc123", "created": "now", "stages": {
        "01_train_wsol": {"profile": "smoke", "seconds": 1.0, "parameters": {"seed": 3},
                          "files": ["tables/wsol_comparison.csv"]},
        "03_attention_maps": {"profile": "smoke", "seconds": 2.0, "parameters": {"seeds": [0, 1]},
                              "files": ["figures/curve.png"]}}}
    text = render_results_readme(tmp_path, manifest)
    assert "abc123" in text and "smoke" in text
    assert "[wsol_comparison](tables/wsol_comparison.md)" in text and "The comparison" in text
    assert "data: CUB;" in text and "seeds: 3" in text
    assert "[curve](figures/curve.png) ([pdf](figures/curve.pdf))" in text
    assert "data: synthetic;" in text and "(synthetic)" not in text and "seeds: 0, 1" in text
    assert "reported" in text and "MoANA, Sci. Rep. 2023" in text
    path = write_results_readme(tmp_path, manifest)
    assert path.read_text() == text


def test_markdown_keeps_strings_and_blanks_nan():
    df = pd.DataFrame({"v": [1.234, math.nan], "delta": ["+2.5", "-1.0*"], "n": [3, 4]})
    md = tables.to_markdown(df)
    assert "+2.5" in md and "-1.0*" in md and "1.23" in md and "nan" not in md.lower()
    assert md.splitlines()[1].startswith("|")
