"""Data-parallel training under torchrun on the CPU: 2 processes, gloo, a tiny synthetic set.

Checks that `moana train` runs under torchrun, that training counts are reduced over the ranks,
that evaluation scores every image once (DistributedSampler pads with repeats) and that rank 0
alone writes a complete run directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

TINY = [
    "data.synthetic={seed: 0, num_classes: 3, image_size: 32, "
    "per_class: {train: 4, val: 1, test: 3}}",
    "data.resize_size=36", "data.crop_size=32", "data.image_size=32", "data.num_workers=0",
    "optim.batch_size=4", "optim.epochs=2", "optim.milestones=[1]", "optim.lr=0.05",
    "optim.backbone_lr=0.05", "eval.cam_step=0.05", "runtime.device=cpu",
]


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path: Path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "moana", "train", "--config", "smoke_moana", "--run-dir", str(run_dir),
           "--quiet", *TINY, f"data.data_root={tmp_path / 'data'}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "true"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    final = json.loads((run_dir / "final_metrics.json").read_text())
    assert final["num_images"] == 9  # 9 test images split 5 + 5 (one repeat) -> scored once
    assert final["val"]["num_images"] == 3
    history = pd.read_csv(run_dir / "metrics.csv")
    assert list(history["train_images"]) == [16, 16]  # 3 x 4 + 4 background: 8 per rank, summed
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["world_size"] == 2 and manifest["status"] == "completed"
    leftovers = [p.name for p in run_dir.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers
