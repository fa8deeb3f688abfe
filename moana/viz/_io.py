"""Atomic writes and the caption side files that results/README.md is assembled from."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

META_SUFFIX = ".meta.json"


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_meta(path: Path, *, kind: str, caption: str, dataset: str, synthetic: bool,
               extra: dict[str, Any] | None = None) -> Path:
    """Side file ``<name>.meta.json`` next to a table or figure: what it shows, on which data."""
    if not caption or "\n" in caption.strip():
        raise ValueError(f"{path.name}: caption must be one non-empty line")
    meta = {"kind": kind, "caption": caption.strip(), "dataset": dataset,
            "synthetic": bool(synthetic), **(extra or {})}
    target = path.with_name(path.stem + META_SUFFIX)
    return atomic_write_text(target, json.dumps(meta, indent=2, default=str) + "\n")


def read_meta(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from err
