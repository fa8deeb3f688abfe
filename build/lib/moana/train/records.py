"""Run records: atomic file writes, the per-epoch CSV, JSON results and the run manifest.

A run directory holds everything a results table needs (wsolevaluation reports, Choe et al.
CVPR 2020, and the MoANA paper's tables): ``config.yaml`` (resolved), ``metrics.csv`` (one row
per epoch), ``final_metrics.json``, ``checkpoints/{best,last}.pt`` and ``manifest.json``
(versions, git commit, device, dataset fingerprint, seed, wall time).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from moana.io import atomic_write_text, read_json, to_jsonable as _jsonable, write_json  # noqa: F401

CONFIG_FILE = "config.yaml"
METRICS_CSV = "metrics.csv"
FINAL_JSON = "final_metrics.json"
MANIFEST_JSON = "manifest.json"
CHECKPOINT_DIR = "checkpoints"


def write_metrics_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite the per-epoch CSV (columns: the union of the rows' keys, in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _jsonable(v) for k, v in row.items()})
    atomic_write_text(Path(path), buffer.getvalue())


def dataset_fingerprint(metadata_dirs: list[Path]) -> str:
    """sha256 over the metadata text files of the splits (ids, labels, sizes, localization)."""
    digest = hashlib.sha256()
    for directory in metadata_dirs:
        directory = Path(directory)
        for file in sorted(directory.glob("*.txt")):
            digest.update(f"{directory.name}/{file.name}\n".encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def git_commit(start: Path | None = None) -> dict[str, Any]:
    """The commit (and whether the tree is dirty) of the git checkout holding the package."""
    start = start or Path(__file__).resolve().parent
    info: dict[str, Any] = {"commit": None, "dirty": None}
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=start, capture_output=True,
                             text=True, timeout=10)
        if out.returncode == 0:
            info["commit"] = out.stdout.strip()
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=start, capture_output=True, text=True, timeout=10)
            info["dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def device_description(device: Any) -> str:
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()} ({os.cpu_count()} cores, " \
           f"{torch.get_num_threads()} torch threads)"


def make_manifest(*, seed: int, device: Any, world_size: int, fingerprint: str,
                  data_root: str) -> dict[str, Any]:
    """Provenance of a run (written at the start, completed at the end)."""
    import torch
    import torchvision

    import moana

    return {
        "moana_version": moana.__version__,
        "git": git_commit(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda,
        "device": device_description(device),
        "world_size": world_size,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "command": sys.argv,
        "seed": seed,
        "data_root": data_root,
        "dataset_fingerprint": fingerprint,
        "status": "running",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "finished_at": None,
        "wall_time_s": None,
        "sessions": [],
    }
