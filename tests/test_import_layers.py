"""The package's import structure: every module imports on its own in a fresh interpreter, the
static graph of ``moana`` imports (module level and inside functions) has no cycle, and no
module imports a higher layer (README, "Package layout")."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "moana"

#: Layers, lowest first (README): io/config -> nn -> models, methods, data, cam, metrics, engine
#: -> train, wsss -> experiments, viz, reproduce -> cli.
LAYERS: dict[str, int] = {
    "io": 0, "config": 0, "_lazy": 0, "progress": 0, "_parallel": 0,
    "nn": 1,
    "models": 2, "methods": 2, "data": 2, "cam": 2, "scoremaps": 2, "metrics": 2,
    "engine": 2,
    "train": 3, "wsss": 3,
    "experiments": 4, "viz": 4, "reproduce": 4, "search": 4,
    "cli": 5, "__main__": 5, "__init__": 5,
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module (or package) a dotted import name refers to."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for name in names:
            if name == "moana" or name.startswith("moana."):
                target = _resolve(name)
                if target and target != module and target != "moana":
                    found.add(target)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    return LAYERS[key]


def test_every_top_level_name_has_a_layer():
    missing = {m.split(".")[1] for m in MODULES if "." in m} - set(LAYERS)
    assert not missing, f"add these to LAYERS (and the README's layout): {sorted(missing)}"


def test_no_lower_layer_imports_a_higher_one():
    bad = [f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
           for m, targets in GRAPH.items() for t in sorted(targets) if _layer(t) > _layer(m)]
    assert not bad, "\n".join(bad)


def _find_cycle() -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            # a package's __init__ importing its own submodules is not a cycle of concepts
            if node.startswith(nxt + ".") or nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle():
    cycle = _find_cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.slow  # about 100 interpreters that each import torch
def test_each_module_imports_alone_in_a_fresh_interpreter():
    names = [m for m in MODULES if m != "moana.__main__"]
    script = ("import importlib, subprocess, sys\n"
              "bad = []\n"
              f"for name in {names!r}:\n"
              "    r = subprocess.run([sys.executable, '-c', f'import {name}'],"
              " capture_output=True, text=True)\n"
              "    if r.returncode:\n"
              "        bad.append(name + ': ' + r.stderr.strip().splitlines()[-1])\n"
              "print('\\n'.join(bad))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=1200)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_fit_and_evaluate_do_not_import_each_other():
    assert "moana.train.training" in GRAPH and "moana.train.prepare" in GRAPH["moana.train.training"]
    assert "moana.train.training" not in GRAPH["moana.train.evaluate"]
    assert "moana.train.evaluate" not in GRAPH["moana.train.prepare"]


def _readme_layers() -> dict[str, int]:
    """{top-level name: layer} from the README's layout table (rows ``| N | `moana/x/`, ... |``)."""
    out = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            for name in re.findall(r"`moana/([A-Za-z_]+)(?:\.py|/)`", cells[1]):
                out[name] = int(cells[0])
    return out


def test_readme_layout_table_matches_the_folders():
    public = {k: v for k, v in LAYERS.items() if not k.startswith("_")}
    assert _readme_layers() == public
