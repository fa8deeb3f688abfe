"""The paired before/after table of the random walk (moana.experiments.wsss.walk_gain_table)."""

import math

import pandas as pd
import pytest

from moana.experiments.wsss import walk_gain_table


def _summary(cam: dict[str, float], pm: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"method": list(cam), "cam_miou_pct": list(cam.values()),
                         "pseudo_mask_miou_pct": [pm[m] for m in cam]})


def test_walk_gain_table_pairs_by_seed_with_a_t_interval():
    summaries = {
        0: _summary({"cam": 60.0, "moana": 65.0}, {"cam": 63.0, "moana": 64.0}),
        1: _summary({"cam": 50.0, "moana": 55.0}, {"cam": 51.0, "moana": 57.0}),
        2: _summary({"cam": 70.0, "moana": 66.0}, {"cam": 72.0, "moana": 66.0}),
    }
    per_seed, summary = walk_gain_table(summaries, ["cam", "moana"])
    cam = per_seed[per_seed["method"] == "cam"]
    assert cam["walk_gain_pct"].tolist() == [3.0, 1.0, 2.0]
    row = summary.set_index("method").loc["cam"]
    # restated: mean 2, sample std 1, t(0.975, 2) = 4.302652..., half width t * 1 / sqrt(3)
    half = 4.302652729749464 / math.sqrt(3)
    assert row["n_seeds"] == 3
    assert row["walk_gain_mean_pct"] == pytest.approx(2.0)
    assert row["walk_gain_ci_low_pct"] == pytest.approx(2.0 - half, rel=1e-6)
    assert row["walk_gain_ci_high_pct"] == pytest.approx(2.0 + half, rel=1e-6)
    assert row["cam_miou_mean_pct"] == pytest.approx(60.0)
    assert summary.set_index("method").loc["moana", "walk_gain_mean_pct"] == pytest.approx(1 / 3)  # -1, 2, 0


def test_walk_gain_table_errors_on_a_missing_method_or_nan():
    with pytest.raises(ValueError, match="moana"):
        walk_gain_table({0: _summary({"cam": 1.0}, {"cam": 2.0})}, ["cam", "moana"])
    with pytest.raises(ValueError, match="NaN"):
        walk_gain_table({0: _summary({"cam": 1.0}, {"cam": float("nan")}),
                         1: _summary({"cam": 1.0}, {"cam": 2.0})}, ["cam"])


def test_ir_label_composition_counts_each_part_of_the_ground_truth(tmp_path):
    import numpy as np

    from moana.experiments.wsss import ir_label_composition
    from moana.wsss._io import save_png

    gt = np.array([[0, 0, 0, 0], [0, 3, 3, 255], [0, 3, 3, 0]], np.uint8)
    ir = np.array([[0, 255, 3, 0], [0, 3, 0, 255], [255, 255, 5, 0]], np.uint8)
    (tmp_path / "voc" / "SegmentationClass").mkdir(parents=True)
    save_png(tmp_path / "voc" / "SegmentationClass" / "a.png", gt)
    save_png(tmp_path / "ir" / "a.png", ir)
    out = ir_label_composition(tmp_path / "voc", tmp_path / "ir", ["a"])
    # 4 object pixels: one right class, one background, one uncertain, one wrong class
    assert [out[k] for k in ("fg_as_fg", "fg_as_bg", "fg_uncertain", "fg_wrong_class")] == \
        [25.0, 25.0, 25.0, 25.0]
    # 7 background pixels (the 255 border left out): 4 background, 2 uncertain, 1 foreground
    assert out["bg_as_bg"] == pytest.approx(400 / 7)
    assert out["bg_uncertain"] == pytest.approx(200 / 7)
    assert out["bg_as_fg"] == pytest.approx(100 / 7)


def test_smoke_walk_settings_follow_the_cam_threshold_and_paper_keeps_irn():
    """Smoke: the IR labels' confident foreground and the walk's background score at the CAMs'
    default threshold, 2^2 walk steps for 12-16 cell maps; paper: IRN's 0.30 / 0.25 / 2^8."""
    from moana.wsss.config import load_wsss_config

    smoke, paper = load_wsss_config("smoke"), load_wsss_config("paper")
    cam_threshold = smoke.eval.default_threshold["cam"]
    assert smoke.ir_label.conf_fg_thres == cam_threshold == smoke.sem_seg.bg_thres
    assert smoke.ir_label.conf_bg_thres < smoke.ir_label.conf_fg_thres
    assert smoke.sem_seg.exp_times == 2
    assert (paper.ir_label.conf_fg_thres, paper.sem_seg.bg_thres, paper.sem_seg.exp_times) == \
        (0.30, 0.25, 8)
