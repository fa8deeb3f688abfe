"""benchmarks/gpu_check.py in its CPU tiny mode: the JSON report, stage statuses, time budgets.

The whole tiny check (every stage) is slow on a shared 2-core machine, so it is marked slow; the
fast tests run one stage, an overrunning stage and the helpers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, *args: str, timeout: int = 900) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "true", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--out",
                           str(out), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert out.is_file(), proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc, json.loads(out.read_text())


def test_evaluator_stage_reports_speeds(tmp_path):
    proc, report = _run(tmp_path, "--stages", "evaluator")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert report["mode"] == "tiny" and report["failed"] == []
    assert report["device"]["type"] == "cpu" and report["versions"]["torch"]
    stage = report["stages"]["evaluator"]
    assert stage["status"] == "passed" and stage["seconds"] > 0
    figures = stage["figures"]
    assert figures["step"] == 0.001 and figures["workers"] >= 1
    for key in ("box_MaxBoxAccV2", "box_MaxBoxAcc", "mask_PxAP"):
        assert figures[key]["maps_per_s"] > 0
        assert 0 <= figures[key]["value_synthetic"] <= 100


def test_overrunning_stage_fails_with_reason_and_exit_code(tmp_path):
    start = time.monotonic()
    proc, report = _run(tmp_path, "--stages", "throughput", "--budget-scale", "0.0005")
    assert time.monotonic() - start < 120  # stopped, not run to the end
    assert proc.returncode == 1
    assert "throughput" in proc.stderr
    stage = report["stages"]["throughput"]
    assert stage["status"] == "failed" and "exceeded its budget" in stage["reason"]
    assert report["failed"] == ["throughput"]


def test_time_limit_raises_and_restores_outer_limit():
    gc = _load()
    with pytest.raises(gc.StageTimeout, match="inner exceeded"):
        with gc.time_limit(5, "outer"):
            with gc.time_limit(0.05, "inner"):
                time.sleep(1)
    import signal

    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # nothing left armed


def test_metric_diffs_compares_test_and_val_percentages():
    gc = _load()
    a = {"top1_cls": 50.0, "MaxBoxAccV2": 40.0, "num_images": 4, "epoch": 1, "name": "x",
         "val": {"MaxBoxAccV2": 30.0}}
    b = {"top1_cls": 50.0, "MaxBoxAccV2": 41.5, "num_images": 4, "epoch": 2, "name": "y",
         "val": {"MaxBoxAccV2": 29.0}}
    assert gc.metric_diffs(a, b) == {"top1_cls": 0.0, "MaxBoxAccV2": 1.5, "val_MaxBoxAccV2": 1.0}


def test_cub_standin_is_readable_by_the_loader(tmp_path):
    gc = _load()
    cub = gc.make_cub_standin(tmp_path, 2, {"train": 2, "val": 1, "test": 1})
    dataset = gc.adapter_input().dataset(cub.image_root, cub.split_dir("train"), 40, 32)
    image, label, image_id = dataset[0]
    assert tuple(image.shape) == (3, 32, 32) and label == 0 and image_id.endswith(".jpg")
    from PIL import Image

    with Image.open(cub.image_root / image_id) as im:
        assert max(im.size) == 500 and 300 <= min(im.size) <= 500 and im.format == "JPEG"


@pytest.mark.slow
def test_whole_tiny_check_passes(tmp_path):
    proc, report = _run(tmp_path, "--budget-scale", "3", "--time-limit", "1500", timeout=1800)
    assert proc.returncode == 0, json.dumps({k: v.get("reason") for k, v in
                                             report["stages"].items()})[:3000]
    assert list(report["stages"]) == ["throughput", "input_pipeline", "paper_profile",
                                      "distributed", "evaluator"]
    assert all(s["status"] == "passed" for s in report["stages"].values())
    throughput = report["stages"]["throughput"]["figures"]
    assert len(throughput["images_per_s"]) == 6 and throughput["ratios"]
    dist = report["stages"]["distributed"]["figures"]
    assert dist["probe"]["all_reduce_ok"] and dist["backend"] == "gloo"
