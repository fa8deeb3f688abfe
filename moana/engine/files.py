"""The file names of a training loop's checkpoint folder (no torch: run directories are read
without it)."""

from __future__ import annotations

from pathlib import Path

CHECKPOINTS = ("best", "last")


def checkpoint_file(directory: str | Path, which: str) -> Path:
    """``<directory>/<which>.pt`` for ``which`` in ``best``/``last`` (any training loop's
    checkpoint folder, :class:`moana.engine.loop.EpochLoop` included)."""
    if which not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {CHECKPOINTS}, got {which!r}")
    return Path(directory) / f"{which}.pt"
