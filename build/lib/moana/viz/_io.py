"""The caption side files that results/README.md is assembled from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from moana.io import atomic_write_text

META_SUFFIX = ".meta.json"


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
