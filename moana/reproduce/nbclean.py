"""Executed notebooks as published reports: no machine paths, no per-run noise.

:func:`publish_executed` rewrites a copy papermill executed so that two runs of the same commit
give the same bytes except where a cell prints a time: absolute paths of the run (the staging
folder, the work dir, the checkout) become paths relative to the folder the notebook ran in
(``notebooks/``, so ``../results`` and ``../work``); execution timestamps and durations
(papermill's and Jupyter's per-cell metadata) and saved widget state (random model ids; a widget
cannot be shown from a static copy anyway) are dropped; a widget output keeps only the static
picture it carries (the explorer's current view), never a bare ``VBox(children=...)`` text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from moana.io import atomic_write_text

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_TIMING_KEYS = ("start_time", "end_time", "duration")


def relative_replacements(paths: Mapping[str | Path, str | Path], cwd: str | Path) -> dict[str, str]:
    """``{absolute path: replacement}`` for ``paths`` (absolute path -> where it is published),
    each replacement written relative to ``cwd``, longest path first (so a folder inside another
    is replaced before its parent)."""
    pairs = {str(Path(a)): os.path.relpath(Path(b), Path(cwd)) for a, b in paths.items()}
    return dict(sorted(pairs.items(), key=lambda kv: -len(kv[0])))


def _strip_cell(cell: dict[str, Any]) -> None:
    meta = cell.get("metadata", {})
    meta.pop("execution", None)
    for key in _TIMING_KEYS:
        meta.get("papermill", {}).pop(key, None)
    outputs = []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if WIDGET_MIME in data:  # the widget itself: a static copy keeps only its picture
            data.pop(WIDGET_MIME)
            if not set(data) - {"text/plain"}:
                continue
        outputs.append(output)
    if "outputs" in cell:
        cell["outputs"] = outputs


def publish_executed(path: str | Path, replacements: Mapping[str, str]) -> None:
    """Rewrite the executed notebook ``path`` in place (atomically): ``replacements`` (absolute
    path -> relative path, see :func:`relative_replacements`) applied to every string, timing
    metadata and widget state removed."""
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    for key in _TIMING_KEYS:
        nb.get("metadata", {}).get("papermill", {}).pop(key, None)
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        _strip_cell(cell)
    text = json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    for absolute, relative in replacements.items():
        text = text.replace(json.dumps(absolute)[1:-1], json.dumps(relative)[1:-1])
    atomic_write_text(path, text)
