"""Shared fixtures. Tests run on the CPU with small inputs."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
import torch

# evaluate-scoremaps compiles the box-metric kernels ahead of time after its first run (tens of
# seconds); tests use the JIT kernels (tests/test_metrics_aot.py builds into a temporary folder)
os.environ.setdefault("MOANA_AOT", "0")

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_ARCHIVE = REPO_ROOT / "tests" / "data" / "reference" / "metadata.tar.xz"

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def reference_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real metadata from wsolevaluation and IRN, unpacked from the repository's test data
    (``tests/data/reference/README.md`` lists what it holds, its sources and licenses)."""
    out = tmp_path_factory.mktemp("reference")
    with tarfile.open(REFERENCE_ARCHIVE) as archive:
        archive.extractall(out, filter="data")
    return out
