"""Shared fixtures. Tests run on the CPU with small inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# evaluate-scoremaps compiles the box-metric kernels ahead of time after its first run (tens of
# seconds); tests use the JIT kernels (tests/test_metrics_aot.py builds into a temporary folder)
os.environ.setdefault("MOANA_AOT", "0")

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference"

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Real metadata from wsolevaluation and IRN (see ../shared/reference/README.md)."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"reference metadata not found at {REFERENCE_DIR} (only in the dev workspace)")
    return REFERENCE_DIR
