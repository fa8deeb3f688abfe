"""The WSSS driver: configs, all steps end to end on tiny synthetic data, restartability, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from moana.wsss import STEPS, load_wsss_config, run_pipeline
from moana.wsss.config import config_from_dict
from moana.wsss.pipeline import STEP_TABLE, run_dirs, run_step

TINY = [
    "data.synthetic={image_size: [24, 32], num_train: 6, num_val: 2, num_classes: 3, objects: [1, 2]}",
    "cam.crop_size=32", "cam.resize_long=[24, 32]", "cam.batch_size=3", "cam.epochs=1",
    "cam.scales=[1.0, 0.5]", "eval.thresholds=[0.0, 0.3, 0.05]", "ir_label.crf=off",
    "irn.crop_size=32", "irn.rescale=[0.75, 1.25]", "irn.batch_size=3", "irn.epochs=1",
    "irn.radius=3", "sem_seg.radius=3", "sem_seg.exp_times=3", "sem_seg.pad_size=32",
    "seg.crop_size=32", "seg.batch_size=2", "seg.iterations=2", "seg.eval_scales=[1.0, 0.5]",
]


def tiny_config(tmp_path: Path, *extra: str):
    return load_wsss_config("smoke", [f"work_dir={tmp_path / 'run'}", *TINY, *extra])


def test_the_step_table_declares_every_step_once_in_pipeline_order(tmp_path):
    assert tuple(STEP_TABLE) == STEPS
    assert all(step.name == name for name, step in STEP_TABLE.items())
    for i, step in enumerate(STEP_TABLE.values()):
        assert set(step.depends) <= set(STEPS[:i]), step.name  # upstream steps come first
    named = [out.name for step in STEP_TABLE.values() for out in step.outputs if out.name]
    assert len(named) == len(set(named))  # each run directory entry has one owner
    dirs = run_dirs(tiny_config(tmp_path), "cam")
    assert list(dirs) == ["root", *named, "done"]
    assert all(dirs[out.name] == dirs["root"] / out.path
               for step in STEP_TABLE.values() for out in step.outputs if out.name)


def test_shipped_configs_load():
    smoke, paper = load_wsss_config("smoke"), load_wsss_config("paper")
    assert smoke.cam.arch == "small" and smoke.data.synthetic
    assert paper.cam.arch == "resnet50" and paper.cam.output_stride == 16
    assert (paper.cam.crop_size, paper.cam.batch_size, paper.cam.epochs) == (512, 16, 5)
    assert paper.cam.lr == 0.1 and paper.cam.classifier_lr_mult == 10 and paper.cam.weight_decay == 1e-4
    assert paper.cam.scales == (1.0, 0.5, 1.5, 2.0)
    assert paper.attention_kw == {"moana": {"calibration": "wsss"}}
    assert paper.eval.default_threshold == {"cam": 0.15, "moana": 0.16}
    assert (paper.ir_label.conf_fg_thres, paper.ir_label.conf_bg_thres) == (0.30, 0.05)
    assert (paper.sem_seg.beta, paper.sem_seg.exp_times, paper.sem_seg.radius,
            paper.sem_seg.bg_thres) == (10, 8, 5, 0.25)
    assert paper.irn.radius == 10


def test_config_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_wsss_config("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cam:\n  epoch: 3\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*unknown key 'epoch'"):
        load_wsss_config(bad)
    with pytest.raises(ValueError, match="key.sub=value"):
        load_wsss_config("smoke", ["cam.epochs"])
    cfg = load_wsss_config("smoke", ["cam.epochs=2", "methods=[moana]"])
    assert cfg.cam.epochs == 2 and cfg.methods == ("moana",)
    assert config_from_dict(cfg.to_dict()) == cfg


def test_pipeline_end_to_end_and_restartable(tmp_path):
    cfg = tiny_config(tmp_path, "methods=[cam]")
    messages: list[str] = []
    with pytest.warns(RuntimeWarning, match="not comparable"):  # ir_label.crf=off
        summary = run_pipeline(cfg, echo=messages.append)
    row = summary.set_index("method").loc["cam"]
    for key in ("cam_miou_pct", "cam_miou_best_pct", "pseudo_mask_miou_pct"):
        assert 0 <= row[key] <= 100
    assert row["cam_miou_best_pct"] >= row["cam_miou_pct"]
    assert row["cam_threshold"] == 0.15
    dirs = run_dirs(cfg, "cam")
    root = dirs["root"]
    assert 0 <= row["seg_val_miou_pct"] <= 100 and 0 <= row["seg_val_miou_msf_pct"] <= 100
    for name in ("cam_model.pt", "irn_model.pt", "eval_cam.json", "eval_cam_curve.csv",
                 "sem_seg_iou.csv", "sem_seg_confusion.csv", "eval_sem_seg.json",
                 "seg_model.pt", "eval_seg.json", "seg_iou.csv"):
        assert (root / name).is_file(), name
    assert len(list(dirs["sem_seg"].glob("*.png"))) == 6
    curve = pd.read_csv(root / "eval_cam_curve.csv")
    assert {0.15, 0.3} <= set(curve["threshold"].round(2))
    assert (Path(cfg.work_dir) / "summary.csv").is_file()
    assert sum("running" in m for m in messages) == len(STEPS)

    # a rerun skips every finished step
    messages.clear()
    again = run_pipeline(cfg, echo=messages.append)
    assert all("skipped" in m for m in messages) and len(messages) == len(STEPS)
    pd.testing.assert_frame_equal(summary, again)

    # an interrupted step (no marker, some files missing) is redone, keeping finished files;
    # the steps downstream of it rerun because their input changed
    (dirs["done"] / "make_sem_seg.json").unlink()
    victim = sorted(dirs["sem_seg"].glob("*.png"))[0]
    victim.unlink()
    messages.clear()
    run_pipeline(cfg, echo=messages.append)
    assert [m.split("] ")[1].split(":")[0] for m in messages if "running" in m] == [
        "make_sem_seg", "eval_sem_seg", "train_seg", "eval_seg"]
    assert "make_sem_seg: running" in messages[-4] and "scratch" not in messages[-4]
    marker = json.loads((dirs["done"] / "make_sem_seg.json").read_text())
    assert marker["result"]["computed"] == 1 and victim.is_file()

    # outputs deleted behind a marker: the step is not complete, so it runs again
    (root / "eval_cam_curve.csv").unlink()
    messages.clear()
    run_pipeline(cfg, steps=["eval_cam"], echo=messages.append)
    assert messages == ["[cam] eval_cam: running"]

    # changed parameters redo the step from scratch (all images) and what depends on it
    changed = tiny_config(tmp_path, "methods=[cam]", "sem_seg.bg_thres=0.5")
    messages.clear()
    run_pipeline(changed, echo=messages.append)
    marker = json.loads((dirs["done"] / "make_sem_seg.json").read_text())
    assert marker["result"]["computed"] == 6
    assert sum("running" in m for m in messages) == 4

    # force redoes the selected steps
    messages.clear()
    run_pipeline(changed, steps=["eval_sem_seg"], force=True, echo=messages.append)
    assert messages == ["[cam] eval_sem_seg: running (from scratch)"]


def test_step_needs_its_inputs(tmp_path):
    cfg = tiny_config(tmp_path, "methods=[moana]")
    with pytest.raises(ValueError, match="needs step 'train_cam'"):
        run_step(cfg, "moana", "make_cam")
    with pytest.raises(ValueError, match="unknown step"):
        run_pipeline(cfg, steps=["train_everything"])


def test_cli_runs_selected_steps(tmp_path, capsys):
    from moana.cli import main

    args = ["wsss", "run", "--config", "smoke", "--methods", "moana", "--steps", "train_cam",
            "make_cam", "eval_cam", "--work-dir", str(tmp_path / "cli"), *TINY]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "moana" in out and "summary.csv" in out
    summary = pd.read_csv(tmp_path / "cli" / "summary.csv")
    assert 0 <= summary.loc[0, "cam_miou_pct"] <= 100
    assert math.isnan(summary.loc[0, "pseudo_mask_miou_pct"])
    assert main(["wsss", "run", "--config", str(tmp_path / "missing.yaml")]) == 1
    assert "not found" in capsys.readouterr().err


@pytest.mark.slow
def test_smoke_profile_end_to_end(tmp_path):
    """The shipped smoke profile: CAM and MoANA, all steps (a few minutes on 2 cores)."""
    cfg = load_wsss_config("smoke", [f"work_dir={tmp_path / 'smoke'}"])
    summary = run_pipeline(cfg).set_index("method")
    assert set(summary.index) == {"cam", "moana"}
    for method in ("cam", "moana"):
        assert 20 < summary.loc[method, "cam_miou_pct"] <= 100
        assert 20 < summary.loc[method, "pseudo_mask_miou_pct"] <= 100


def test_changed_upstream_parameters_stop_a_partial_rerun(tmp_path):
    """A rerun of eval_cam after cam.epochs changed must not present the old model's numbers."""
    cfg = tiny_config(tmp_path, "methods=[cam]")
    run_pipeline(cfg, steps=["train_cam", "make_cam", "eval_cam"])
    records = json.loads((run_dirs(cfg, "cam")["root"] / "steps.json").read_text())
    assert set(records) == {"train_cam", "make_cam", "eval_cam"}
    assert records["train_cam"]["params"]["cam"]["epochs"] == 1
    assert records["eval_cam"]["status"] == "ran"
    config_json = Path(cfg.work_dir) / "config.json"
    before = config_json.read_text()
    changed = tiny_config(tmp_path, "methods=[cam]", "cam.epochs=2", "cam.lr=0.05")
    with pytest.raises(ValueError, match=r"'train_cam' ran with other parameters "
                                         r"\(changed: cam\.epochs, cam\.lr\)"):
        run_pipeline(changed, steps=["eval_cam"])
    assert config_json.read_text() == before  # nothing claims the new parameters
    run_pipeline(cfg, steps=["eval_cam"])  # the original parameters still work
    records = json.loads((run_dirs(cfg, "cam")["root"] / "steps.json").read_text())
    assert records["eval_cam"]["status"] == "skipped (complete)"


def test_wsss_json_is_strict_and_in_percent(tmp_path):
    """NaN IoUs (classes absent everywhere) are written as null; metrics are percent."""
    cfg = tiny_config(tmp_path, "methods=[cam]")
    run_pipeline(cfg, steps=["train_cam", "make_cam", "eval_cam"])
    root = run_dirs(cfg, "cam")["root"]

    def strict(text: str):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))

    result = strict((root / "eval_cam.json").read_text())
    assert None in result["iou_per_class_at_best_pct"]  # 21 VOC classes, 3 synthetic ones
    assert 0 <= result["miou_at_default_pct"] <= 100 and result["default_threshold"] == 0.15
    for path in [*(root / "done").glob("*.json"), root / "steps.json"]:
        strict(path.read_text())
    curve = pd.read_csv(root / "eval_cam_curve.csv")
    assert list(curve.columns) == ["threshold", "miou_pct"]
    summary = pd.read_csv(Path(cfg.work_dir) / "summary.csv")
    assert summary.loc[0, "cam_miou_pct"] == pytest.approx(result["miou_at_default_pct"])
