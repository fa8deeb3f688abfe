"""Ablation variants as configurations, the cost table, the runner and its summary statistics."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from moana.experiments import variants as ablations  # noqa: E402
from moana.experiments.ablation import load_results, run_ablation  # noqa: E402
from moana.experiments.cost import cost_table  # noqa: E402
from moana.experiments.summary import format_summary, summarize  # noqa: E402
from moana.experiments.variants import (  # noqa: E402
    build_variant_model,
    get_variants,
    variant_overrides,
    variant_table,
)
from moana.viz.figures import plot_ablation  # noqa: E402
from moana.nn import MoANA  # noqa: E402


def test_variants_cover_the_issue() -> None:
    names = set(variant_table().index)
    assert {"cam", "moana", "se", "cbam", "eca", "coord_attn", "adl"} <= names
    assert {f"axes={a}" for a in ("c", "h", "w", "ch", "cw", "hw")} <= names
    assert {"calib=0.35+0.65M", "calib=M", "conv=depthwise", "insert=layer3"} <= names
    assert set(ablations.SMOKE_VARIANTS) <= names
    assert len(names) == len(ablations.VARIANTS)


def test_get_variants_checks_names() -> None:
    with pytest.raises(ValueError, match="unknown ablation variant"):
        get_variants(["nope"])
    with pytest.raises(ValueError, match="unique"):
        get_variants(["cam", "cam"])
    with pytest.raises(ValueError, match="name"):
        get_variants([{"method": "moana"}])
    k5 = {"name": "k5", "method": "moana", "attention_kw": {"kernel_size": 5}}
    (custom,) = get_variants([k5])
    assert custom["insert_at"] == "layer4" and custom["group"] == "custom"
    # the table is not mutated through returned copies
    get_variants(["axes=hw"])[0]["attention_kw"]["axes"] = "c"
    assert get_variants(["axes=hw"])[0]["attention_kw"] == {"axes": "hw"}


def _attention(variant: str):
    model = build_variant_model(variant, "small", num_classes=3)
    return model, model.attention_modules()


@pytest.mark.parametrize(
    ("variant", "present", "absent"),
    [
        ("moana", ["conv_c", "bn1", "conv_h", "bn2", "conv_w", "bn3"], []),
        ("axes=hw", ["conv_h", "bn2", "conv_w", "bn3"], ["conv_c", "bn1"]),
        ("axes=c", ["conv_c", "bn1"], ["conv_h", "bn2", "conv_w", "bn3"]),
        ("axes=cw", ["conv_c", "bn1", "conv_w", "bn3"], ["conv_h", "bn2"]),
    ],
)
def test_axis_variants_build_intended_module(variant: str, present, absent) -> None:
    _, (module,) = _attention(variant)
    assert isinstance(module, MoANA)
    names = {n.split(".")[0] for n, _ in module.named_parameters()}
    assert set(present) <= names
    assert not set(absent) & names


def test_other_variants_build_intended_module() -> None:
    _, (calib,) = _attention("calib=M")
    assert calib.calibration == (0.0, 1.0)
    _, (wsss,) = _attention("calib=0.35+0.65M")
    assert wsss.calibration == (0.35, 0.65)
    _, (full,) = _attention("moana")
    assert full.calibration == (1.0, 1.0) and full.conv_h.groups == 1
    _, (dw,) = _attention("conv=depthwise")
    assert dw.conv_h.groups == dw.channels and dw.conv_w.groups == dw.channels
    model3, (l3,) = _attention("insert=layer3")
    seen = []
    model3.layer3.register_forward_hook(lambda m, i, o: seen.append(("layer3", o)))
    l3.register_forward_pre_hook(lambda m, i: seen.append(("attention", i[0])))
    model3.eval()(torch.randn(2, 3, 32, 32))
    assert [s[0] for s in seen] == ["layer3", "attention"] and seen[0][1] is seen[1][1]
    cam, modules = _attention("cam")
    assert modules == [] and cam.method == "cam"
    for name, cls in [("se", "SqueezeExcitation"), ("cbam", "CBAM"), ("eca", "ECA"),
                      ("coord_attn", "CoordAttention"), ("adl", "ADL")]:
        _, (module,) = _attention(name)
        assert type(module).__name__ == cls


def test_overrides_round_trip_through_config() -> None:
    from moana.train.config import load_config
    for v in get_variants():
        cfg = load_config("smoke_moana", variant_overrides(v))
        assert cfg.model.method == v["method"]
        assert cfg.model.insert_at == v["insert_at"]
        got = {k: tuple(x) if isinstance(x, list) else x for k, x in cfg.model.attention_kw.items()}
        assert got == v["attention_kw"], v["name"]


def test_cost_table_small() -> None:
    df = cost_table(["moana", "se", "adl"], arch="small", image_size=32, num_classes=3,
                    repeats=1, warmup=0)
    assert list(df.index) == ["cam", "moana", "se", "adl"]
    assert df.loc["cam", ["params_ratio", "macs_ratio", "latency_ms_ratio"]].tolist() == [1, 1, 1]
    moana = df.loc["moana"]
    assert moana["params"] == df.loc["cam", "params"] + moana["attention_params"]
    assert df.loc["moana", "macs"] > df.loc["cam", "macs"]
    assert df.loc["adl", "attention_params"] == 0 and df.loc["adl", "params_ratio"] == 1
    assert (df["latency_ms"] > 0).all()


def _hand_table() -> pd.DataFrame:
    rows = []
    for variant, values in {
        "cam": [10.0, 11.0, 12.0],  # mean 11, std 1
        "moana": [20.0, 21.0, 22.0],  # mean 21, std 1: +10 on every seed
        "close": [10.5, 10.0, 13.0],  # per-seed differences to cam +0.5, -1, +1
        "single": [30.0],  # one seed: undecidable
    }.items():
        for seed, value in enumerate(values):
            rows.append({"variant": variant, "seed": seed, "MaxBoxAccV2": value,
                         "top1_cls": 50.0 + seed})
    return pd.DataFrame(rows)


def test_summarize_hand_made_table() -> None:
    from moana.experiments.statistics import paired_difference

    s = summarize(_hand_table(), ["MaxBoxAccV2", "top1_cls"])
    m = s["MaxBoxAccV2"]
    assert list(s.index) == ["cam", "moana", "close", "single"]
    assert m.loc["cam", "mean"] == pytest.approx(11.0) and m.loc["cam", "std"] == pytest.approx(1.0)
    assert m.loc["moana", "Δ cam"] == pytest.approx(10.0)
    assert m.loc["moana", "sig cam"] == True  # noqa: E712  (the same +10 on every seed)
    # paired by seed: the mean of +0.5, -1, +1 and Student's t interval over 3 seeds
    d = paired_difference([10.5, 10.0, 13.0], [10.0, 11.0, 12.0])
    assert (m.loc["close", "Δ cam"], m.loc["close", "Δ cam low"], m.loc["close", "Δ cam high"]) \
        == pytest.approx((d.mean, d.low, d.high))
    assert d.low < 0 < d.high and not m.loc["close", "sig cam"]
    assert m.loc["close", "sig moana"]
    assert pd.isna(m.loc["single", "sig cam"]) and pd.isna(m.loc["single", "std"])
    assert m.loc["single", "n"] == 1
    # identical per-seed values: no difference, not significant
    assert s["top1_cls"].loc["moana", "Δ cam"] == 0 and not s["top1_cls"].loc["moana", "sig cam"]
    text = format_summary(s)
    assert text.loc["moana", "MaxBoxAccV2"] == "21.0 ± 1.0"
    assert text.loc["moana", "MaxBoxAccV2 Δcam"] == "+10.0 [+10.0, +10.0]*"
    assert text.loc["close", "MaxBoxAccV2 Δcam"] == f"+0.2 [{d.low:+.1f}, {d.high:+.1f}]"
    assert text.loc["single", "MaxBoxAccV2"] == "30.0"
    with pytest.raises(ValueError, match="PxAP"):
        summarize(_hand_table(), ["PxAP"])


def test_runner_writes_csv_and_resumes(tmp_path) -> None:
    calls: list[tuple[list[str], str]] = []

    def fake_fit(overrides, run_dir, resume):
        calls.append((overrides, str(run_dir)))
        assert not resume
        seed = int(next(o for o in overrides if o.startswith("runtime.seed=")).split("=")[1])
        method = next(o for o in overrides if o.startswith("model.method=")).split("=")[1]
        return {"top1_cls": 50.0 + seed, "MaxBoxAccV2": 40.0 + seed + (5 if method == "se" else 0),
                "PxAP": np.float64(30.0), "curves": [1, 2], "note": "ignored",
                "seed": 99.0, "method": "clash"}

    df = run_ablation(tmp_path, ["cam", "se"], seeds=[0, 1], epochs=2,
                      overrides=["data.synthetic.num_train=8"], fit_fn=fake_fit, progress=False)
    assert len(calls) == 4
    first = calls[0][0]
    assert "model.method=cam" in first and "optim.epochs=2" in first
    assert "runtime.seed=0" in first and "runtime.quiet=true" in first
    assert first[-1] == "data.synthetic.num_train=8"
    assert list(df["variant"]) == ["cam", "cam", "se", "se"]
    assert df.loc[df["variant"] == "se", "MaxBoxAccV2"].tolist() == [45.0, 46.0]
    assert "curves" not in df.columns and "note" not in df.columns
    assert df["seed"].tolist() == [0, 1, 0, 1] and df["method"].tolist()[-1] == "se"
    csv = pd.read_csv(tmp_path / "results.csv")
    assert len(csv) == 4 and set(csv.columns) >= {"variant", "seed", "top1_cls", "seconds"}
    # resume: nothing reruns; one new seed runs only the new runs
    same = {"epochs": 2, "overrides": ["data.synthetic.num_train=8"]}
    run_ablation(tmp_path, ["cam", "se"], seeds=[0, 1], fit_fn=fake_fit, progress=False, **same)
    assert len(calls) == 4
    df3 = run_ablation(tmp_path, ["cam", "se"], seeds=[0, 1, 2], fit_fn=fake_fit, progress=False,
                       **same)
    assert len(calls) == 6 and len(df3) == 6
    # a subset request returns only its rows, the CSV keeps everything
    assert len(run_ablation(tmp_path, ["se"], seeds=[2], fit_fn=fake_fit, progress=False,
                            **same)) == 1
    assert len(load_results(tmp_path)) == 6
    # no resume: runs again
    run_ablation(tmp_path, ["se"], seeds=[0], resume=False, fit_fn=fake_fit, progress=False)
    assert len(calls) == 7
    rec = json.loads((tmp_path / "runs" / "se" / "seed0" / "ablation_metrics.json").read_text())
    assert rec["variant"] == "se" and rec["metrics"]["PxAP"] == 30.0
    fig = plot_ablation(df3, "MaxBoxAccV2")
    assert isinstance(fig, matplotlib.figure.Figure)
    assert fig.axes[0].get_ylabel() == "MaxBoxAccV2"


def test_runner_rejects_bad_input(tmp_path) -> None:
    with pytest.raises(ValueError, match="seeds"):
        run_ablation(tmp_path, ["cam"], seeds=[], fit_fn=lambda o, d, r: {}, progress=False)
    with pytest.raises(ValueError, match="unknown ablation variant"):
        run_ablation(tmp_path, ["bogus"], fit_fn=lambda o, d, r: {}, progress=False)
    with pytest.raises(ValueError, match="same run directory"):
        run_ablation(tmp_path, [{"name": "a b", "method": "se"}, {"name": "a=b", "method": "se"}],
                     fit_fn=lambda o, d, r: {}, progress=False)
    bad = tmp_path / "runs" / "x" / "seed0"
    bad.mkdir(parents=True)
    (bad / "ablation_metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="ablation_metrics.json"):
        load_results(tmp_path)


def test_names_are_slugged(tmp_path) -> None:
    run_ablation(tmp_path, ["calib=0.35+0.65M"], seeds=[0], progress=False,
                 fit_fn=lambda o, d, r: {"top1_cls": 1.0})
    assert (tmp_path / "runs" / "calib_0.35_0.65M" / "seed0" / "ablation_metrics.json").is_file()


def test_runner_continues_interrupted_runs(tmp_path) -> None:
    seen = {}

    def fake_fit(overrides, run_dir, resume):
        seen[run_dir.parent.name] = (resume, sorted(p.name for p in run_dir.glob("*")))
        return {"top1_cls": 1.0}

    ckpt = tmp_path / "runs" / "cam" / "seed0" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "last.pt").write_bytes(b"x")
    junk = tmp_path / "runs" / "se" / "seed0"
    junk.mkdir(parents=True)
    (junk / "config.yaml").write_text("partial")
    run_ablation(tmp_path, ["cam", "se"], seeds=[0], data_root=tmp_path / "data",
                 fit_fn=fake_fit, progress=False)
    assert seen["cam"] == (True, ["checkpoints"])  # continued from its checkpoint
    assert seen["se"] == (False, [])  # no checkpoint: started again in a clean directory


@pytest.mark.slow
def test_smoke_ablation_end_to_end(tmp_path) -> None:
    """Real training through moana.train.fit: two variants, two seeds, tiny benchmark."""
    overrides = [*ablations.SMOKE_OVERRIDES, "optim.epochs=1",
                 "data.synthetic.per_class={train: 8, val: 3, test: 4}"]
    df = run_ablation(tmp_path, ["cam", "axes=hw"], seeds=[0, 1], overrides=overrides,
                      progress=False)
    assert len(df) == 4 and set(ablations.DEFAULT_METRICS) <= set(df.columns)
    assert df[list(ablations.DEFAULT_METRICS)].notna().all().all()
    assert (tmp_path / "data" / "metadata" / "train").is_dir()
    assert (tmp_path / "runs" / "axes_hw" / "seed1" / "ablation_metrics.json").is_file()
    summary = summarize(df)
    assert list(summary.index) == ["cam", "axes=hw"]
    again = run_ablation(tmp_path, ["cam", "axes=hw"], seeds=[0, 1], overrides=overrides,
                         progress=False)  # resumes: nothing reruns
    pd.testing.assert_frame_equal(again, df)


def test_controls_are_variants_with_their_own_training_data(tmp_path) -> None:
    from moana.experiments.ablation import _run_overrides, variant_data_root
    from moana.experiments.variants import CONTROLS

    (has, hidden) = get_variants(["has", "cam+mark_hidden"])
    assert {v["name"] for v in CONTROLS} == {"has", "cam+mark_hidden"}
    assert has["method"] == "has" and has["data"] == {} and has["group"] == "control"
    assert hidden["method"] == "cam" and hidden["data"] == {"mark_hidden": 0.5}
    assert "cam+mark_hidden" not in {v["name"] for v in get_variants()}  # not an ablation
    # a variant without data: the shared root; with data: its own root and knobs, last
    base = ["data.data_root=/d/bench", 'data.synthetic={"seed": 0}']
    plain = _run_overrides(has, 1, None, None, base)
    assert plain[-2:] == base and "model.method=has" in plain
    own = _run_overrides(hidden, 1, 3, None, base)
    assert own[-2:] == ["data.data_root=/d/bench-mark_hidden_0.5", "data.synthetic.mark_hidden=0.5"]
    assert variant_data_root(tmp_path / "x", hidden) == Path(f"{tmp_path / 'x'}-mark_hidden_0.5")
    assert _run_overrides(hidden, 0, None, tmp_path, [])[-2] == f"data.data_root={tmp_path}-mark_hidden_0.5"
    with pytest.raises(ValueError, match="its own synthetic data"):
        _run_overrides(hidden, 0, None, None, [])
    with pytest.raises(ValueError, match="workers"):
        run_ablation(tmp_path, ["cam"], seeds=[0], fit_fn=lambda o, d, r: {}, workers=2,
                     progress=False)


@pytest.mark.slow
def test_parallel_runs_equal_serial_runs_and_controls_get_their_data(tmp_path) -> None:
    """workers=2 trains in spawned processes; each run is seeded, so the numbers equal a serial
    run's; the mark-hiding control trains on its own generated copy of the benchmark."""
    overrides = ["optim.epochs=1", "data.synthetic.per_class={train: 6, val: 3, test: 3}"]
    par = run_ablation(tmp_path / "p", ["cam", "cam+mark_hidden"], seeds=[0, 1], epochs=1,
                       overrides=overrides, progress=False, workers=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a worker: the same reduction order, the same numbers
    try:
        ser = run_ablation(tmp_path / "s", ["cam", "cam+mark_hidden"], seeds=[0, 1], epochs=1,
                           overrides=overrides, progress=False)
    finally:
        torch.set_num_threads(threads)
    cols = list(ablations.DEFAULT_METRICS)
    pd.testing.assert_frame_equal(par[["variant", "seed", *cols]], ser[["variant", "seed", *cols]])
    made = json.loads((tmp_path / "p" / "data-mark_hidden_0.5" / "synthetic.json").read_text())
    assert made["mark_hidden"] == 0.5
    assert json.loads((tmp_path / "p" / "data" / "synthetic.json").read_text())["mark_hidden"] == 0


def test_ablation_figure_repeats_whatever_the_global_rng_state() -> None:
    df = pd.DataFrame({"variant": ["cam"] * 3 + ["se"] * 3, "seed": [0, 1, 2] * 2,
                       "MaxBoxAccV2": [60.0, 61.0, 62.0, 63.0, 64.0, 65.0]})

    def dots(draw_before: int) -> list:
        np.random.seed(draw_before)
        np.random.uniform(size=draw_before)
        before = np.random.get_state()[1].copy()
        fig = plot_ablation(df, "MaxBoxAccV2")
        assert (np.random.get_state()[1] == before).all()  # the caller's stream is left as it was
        offsets = [c.get_offsets().tolist() for c in fig.axes[0].collections]
        matplotlib.pyplot.close(fig)
        return offsets

    assert dots(1) == dots(7)
