"""The executed notebooks under results/notebooks are a report: each shows inline at least as
many pictures as its stage saves under results/figures, and none holds an absolute path of the
machine that made it (outputs, parameter cells, metadata).

This checks the published results/ (regenerate them with ``make reproduce``); it is skipped
where results/ has no executed notebooks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

RESULTS = Path(__file__).resolve().parents[1] / "results"
NOTEBOOKS = sorted((RESULTS / "notebooks").glob("*.ipynb"))
#: an absolute POSIX path (two or more components, not preceded by a word character as in
#: "it/s" or "1/2") or a Windows drive path
ABSOLUTE = re.compile(r"(?<![\w.~:/-])/[\w.-]+(?:/[\w.-]+)+|\b[A-Za-z]:\\\\[\w.-]")

pytestmark = pytest.mark.skipif(not NOTEBOOKS, reason="results/notebooks holds no executed copy")


def inline_images(nb: nbformat.NotebookNode) -> int:
    """Pictures a static viewer shows: outputs carrying image/png or image/svg+xml."""
    return sum(1 for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
               if {"image/png", "image/svg+xml"} & set(out.get("data", {})))


def saved_figures(stage: str) -> list[str]:
    """The figures (PNG files) the stage published, as results/manifest.json lists them."""
    manifest = json.loads((RESULTS / "manifest.json").read_text(encoding="utf-8"))
    files = manifest["stages"].get(stage, {}).get("files", [])
    return [f for f in files if f.startswith("figures/") and f.endswith(".png")]


def absolute_paths(text: str) -> list[str]:
    return sorted(set(ABSOLUTE.findall(text)))


def test_path_pattern():
    assert absolute_paths('work_dir = "/home/me/work"') == ["/home/me/work"]
    assert absolute_paths("PosixPath('/tmp/x/f.png')") == ["/tmp/x/f.png"]
    assert not absolute_paths("12.3 it/s, 1/2, ../work/runs, ./figures/a.png, https://x.org/a/b")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_saved_figure_is_shown_inline(path):
    nb = nbformat.read(path, as_version=4)
    figures = saved_figures(path.stem)
    assert inline_images(nb) >= len(figures), (
        f"{path.name}: {inline_images(nb)} inline images for {len(figures)} saved figures "
        f"({', '.join(figures)})")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_absolute_path_in_outputs_parameters_or_metadata(path):
    nb = nbformat.read(path, as_version=4)
    found = {}
    for index, cell in enumerate(nb.cells):
        texts = [cell.source] if "parameters" in cell.metadata.get("tags", []) or \
            "injected-parameters" in cell.metadata.get("tags", []) else []
        for out in cell.get("outputs", []):
            texts.append(out.get("text", "") if "text" in out else "")
            texts += [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
            texts += out.get("traceback", [])
        hits = absolute_paths("\n".join(t if isinstance(t, str) else "".join(t) for t in texts))
        if hits:
            found[f"cell {index}"] = hits
    meta = absolute_paths(json.dumps(nb.metadata))
    if meta:
        found["metadata"] = meta
    assert not found, f"{path.name}: absolute paths {found}"
