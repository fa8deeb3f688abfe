"""Run records: the per-epoch CSV, the dataset fingerprint, the git commit and the manifest.

The run directory's file names are spelled in :mod:`moana.train.run` only; this module makes
the contents (provenance: versions, git commit, device, dataset fingerprint, seed, wall time).
:func:`git_commit` is the package's one git helper (``moana.reproduce`` uses it too).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from moana.io import atomic_write_text
from moana.io import to_jsonable as _jsonable


def write_metrics_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite a CSV of rows atomically, e.g. the per-epoch metrics or a search's trials
    (columns: the union of the rows' keys, in first-seen order)."""
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
    """``{"commit": sha or None, "dirty": bool or None}`` of the git checkout at ``start``
    (default: the one holding the package); None values when git or the checkout is missing."""
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
    """A one-line description of ``device`` for the run manifest (GPU name, or CPU, cores and torch
    threads)."""
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
