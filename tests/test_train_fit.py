"""moana.train.fit on a tiny synthetic set (CPU): run records, same-seed determinism, resume
equality, and `moana evaluate` recomputing the final metrics and writing score maps."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from moana.cli import main as cli_main
from moana.engine.distributed import DistInfo
from moana.train import evaluate_run, fit, load_config
from moana.train.prepare import prepare_data

# the module that defines fit
fit_module = importlib.import_module("moana.train.training")
trainer_module = importlib.import_module("moana.engine.loop")

TINY = [
    "data.synthetic={seed: 0, num_classes: 2, image_size: 32, "
    "per_class: {train: 8, val: 2, test: 3}}",
    "data.resize_size=36", "data.crop_size=32", "data.image_size=32", "data.num_workers=0",
    "optim.batch_size=4", "optim.epochs=2", "optim.milestones=[1]", "optim.lr=0.05",
    "optim.backbone_lr=0.05", "eval.cam_step=0.05", "runtime.quiet=true",
]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny_synthetic")


def tiny(data_root: Path, name: str = "smoke_moana", *extra: str):
    return load_config(name, [*TINY, f"data.data_root={data_root}", *extra])


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}


def _history(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(run_dir / "metrics.csv")
    return frame.drop(columns=[c for c in frame.columns if c.endswith("time_s")])


@pytest.fixture(scope="module")
def reference_run(data_root: Path, tmp_path_factory) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("runs") / "reference"
    return run_dir, fit(tiny(data_root), run_dir=run_dir)


def test_run_directory(reference_run):
    run_dir, metrics = reference_run
    for name in ("config.yaml", "metrics.csv", "final_metrics.json", "manifest.json",
                 "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (run_dir / name).is_file(), name
    final = json.loads((run_dir / "final_metrics.json").read_text())
    for key in ("top1_cls", "top1_loc", "top5_loc", "gt_known_loc", "MaxBoxAcc", "MaxBoxAccV2",
                "MaxBoxAcc@30", "MaxBoxAcc@50", "MaxBoxAcc@70", "PxAP", "PIoU",
                "thresholds_from_val", "cam_normalization", "val"):
        assert key in final, key
    assert final["split"] == "test" and final["num_images"] == 6
    assert final["thresholds_from_val"]["box_threshold"] == final["val"]["box_threshold"]
    assert 0 <= final["top1_loc"] <= final["gt_known_loc"] <= 100
    history = pd.read_csv(run_dir / "metrics.csv")
    assert list(history["epoch"]) == [1, 2]
    assert (history["train_images"] == 16 + 8).all()  # 2 classes x 8 + the background class
    assert {"val_MaxBoxAccV2", "val_PxAP", "train_loss", "lr"} <= set(history.columns)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["seed"] == 0
    assert len(manifest["dataset_fingerprint"]) == 64
    assert manifest["torch"] == torch.__version__
    assert manifest["wall_time_s"] > 0
    config = load_config(run_dir / "config.yaml")
    assert config.data.synthetic["num_classes"] == 2


def test_same_seed_same_metrics(data_root: Path, tmp_path: Path, reference_run):
    ref_dir, ref = reference_run
    again = fit(tiny(data_root), run_dir=tmp_path / "again")
    assert _scalars(again) == _scalars(ref)
    pd.testing.assert_frame_equal(_history(tmp_path / "again"), _history(ref_dir))


def test_resume_matches_uninterrupted(data_root: Path, tmp_path: Path, monkeypatch,
                                      reference_run):
    ref_dir, ref = reference_run
    run_dir = tmp_path / "interrupted"
    real = trainer_module.train_one_epoch

    def interrupted(model, loader, *args, epoch, **kwargs):
        if epoch == 1:  # die in the middle of the second epoch
            for step, _ in enumerate(loader):
                if step == 2:
                    raise KeyboardInterrupt
        return real(model, loader, *args, epoch=epoch, **kwargs)

    monkeypatch.setattr(trainer_module, "train_one_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(tiny(data_root), run_dir=run_dir)
    monkeypatch.setattr(trainer_module, "train_one_epoch", real)
    assert not (run_dir / "final_metrics.json").exists()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "running"
    resumed = fit(load_config(run_dir / "config.yaml"), run_dir=run_dir, resume=True)
    assert _scalars(resumed) == _scalars(ref)
    pd.testing.assert_frame_equal(_history(run_dir), _history(ref_dir))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [s["resumed"] for s in manifest["sessions"]] == [False, True]
    assert manifest["status"] == "completed"


def test_refusals(data_root: Path, tmp_path: Path, reference_run):
    ref_dir, _ = reference_run
    with pytest.raises(ValueError, match="already exists"):
        fit(tiny(data_root), run_dir=ref_dir)
    with pytest.raises(ValueError, match="optim.lr changed"):
        fit(tiny(data_root, "smoke_moana", "optim.lr=0.2"), run_dir=ref_dir, resume=True)
    with pytest.warns(UserWarning, match="generated with other settings"):
        prepare_data(tiny(data_root, "smoke_moana", "data.synthetic.num_classes=3"),
                                DistInfo())
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        fit(tiny(data_root), run_dir=tmp_path / "never", resume=True)


def test_cli_train_and_evaluate(data_root: Path, tmp_path: Path, capsys):
    run_dir = tmp_path / "cli_run"
    args = ["train", "--config", "smoke_cam", "--run-dir", str(run_dir), "--quiet", *TINY,
            f"data.data_root={data_root}", "optim.epochs=1"]
    assert cli_main(args) == 0
    final = json.loads((run_dir / "final_metrics.json").read_text())
    out = capsys.readouterr().out
    assert '"top1_cls"' in out
    assert f"run directory: {run_dir}" in out
    assert "test metrics from checkpoint last (epoch 1, MaxBoxAccV2 on val = " in out  # smoke_cam: last
    cams = tmp_path / "cams"
    assert cli_main(["evaluate", "--run", str(run_dir), "--split", "test",
                     "--save-cams", str(cams), "--quiet"]) == 0
    again = json.loads((run_dir / "eval_test.json").read_text())
    for key in ("top1_cls", "top1_loc", "gt_known_loc", "MaxBoxAccV2", "PxAP"):
        assert again[key] == pytest.approx(final[key]), key
    files = sorted(cams.rglob("*.npy"))
    assert len(files) == 6
    # one metric, one number: scoring the saved maps gives the numbers `evaluate` printed (the
    # step `evaluate` used is recorded beside the maps and is evaluate-scoremaps' default)
    recorded = json.loads((cams / "protocol.json").read_text())
    assert recorded == {"cam_step": 0.05, "cam_normalization": "minmax",
                        "contour_mode": "all_contours"} == again["protocol"]
    scored = tmp_path / "scored.json"
    assert cli_main(["evaluate-scoremaps", "--scoremaps", str(cams), "--metadata",
                     str(data_root / "metadata" / "test"), "--mask-root", str(data_root / "images"),
                     "--quiet", "--output", str(scored)]) == 0
    capsys.readouterr()
    offline = json.loads(scored.read_text())
    assert offline["step"] == 0.05 and offline["protocol"]["step_from"] == "protocol.json"
    assert offline["PxAP"] == pytest.approx(again["PxAP"])
    assert offline["MaxBoxAccV2"] == pytest.approx(again["MaxBoxAccV2"])
    scoremap = np.load(files[0])
    assert scoremap.shape == (32, 32) and 0 <= scoremap.min() and scoremap.max() <= 1
    via_api = evaluate_run(run_dir, "val", write=False, quiet=True)
    assert via_api["split"] == "val"
    assert cli_main(["train", "--config", "smoke_cam", "--quiet", "optim.nope=1"]) == 1
    assert "unknown key optim.nope" in capsys.readouterr().err


def test_bf16_and_channels_last_options_run(data_root: Path, tmp_path: Path):
    """The GPU speed options also run on the CPU (autocast bf16, channels-last)."""
    metrics = fit(tiny(data_root, "smoke_moana", "runtime.amp=bf16", "runtime.channels_last=true",
                       "optim.epochs=1"), run_dir=tmp_path / "bf16")
    assert 0 <= metrics["top1_cls"] <= 100 and np.isfinite(metrics["MaxBoxAccV2"])


def test_divergence_is_a_clear_error(data_root: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="training loss became"):
        fit(tiny(data_root, "smoke_cam", "optim.lr=1e30", "optim.backbone_lr=1e30",
                 "optim.epochs=1"), run_dir=tmp_path / "diverged")
