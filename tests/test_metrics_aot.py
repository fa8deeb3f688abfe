"""The ahead-of-time compiled level-set kernels (moana.metrics._aot): keyed by the kernel source
(a stale build is never loaded), switched off by MOANA_AOT=0, and (slow: it compiles) giving the
same numbers as the JIT kernels and the reference, without importing numba."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from moana.metrics import _aot
from moana.metrics._levelsets import HAVE_NUMBA

REPO = Path(__file__).resolve().parents[1]


def test_module_name_follows_the_kernel_source(tmp_path, monkeypatch):
    for name in ("_levelsets.py", "_aot.py"):
        (tmp_path / name).write_bytes((_aot._HERE / name).read_bytes())
    monkeypatch.setattr(_aot, "_HERE", tmp_path)
    before = _aot.module_name()
    assert before == _aot.module_name()
    with (tmp_path / "_levelsets.py").open("a") as f:
        f.write("\n# an edit of the kernels\n")
    assert _aot.module_name() != before


def test_disabled_or_missing_module_is_not_loaded(tmp_path, monkeypatch):
    monkeypatch.delenv(_aot.ENV, raising=False)  # tests/conftest.py turns it off
    monkeypatch.setenv(_aot.DIR_ENV, str(tmp_path))
    assert _aot.cache_dirs() == [tmp_path]
    assert _aot.load() is None  # nothing built there
    stale = _aot._path_in(tmp_path, _aot.module_name())
    stale.write_bytes(b"not an extension module")
    assert _aot.load() is None  # does not import: ignored
    monkeypatch.setenv(_aot.ENV, "0")
    assert not _aot.enabled() and _aot.load() is None


def test_build_failure_keeps_the_jit_kernels(monkeypatch, capsys):
    def failing_build():
        raise RuntimeError("could not compile: no compiler")

    monkeypatch.delenv(_aot.ENV, raising=False)
    monkeypatch.setattr(_aot, "load", lambda: None)
    monkeypatch.setattr(_aot, "build", failing_build)
    assert _aot.build_once(jit=False) is None  # no JIT kernels in use: nothing to do
    assert capsys.readouterr().err == ""
    assert _aot.build_once(jit=True) is None
    assert "JIT kernels stay in use" in capsys.readouterr().err


_COMPARE = """
import json, sys
import numpy as np
from moana.metrics import _levelsets
from moana.metrics.boxes import best_iou_per_threshold, quantize
rng = np.random.default_rng(5)
out = {"aot": _levelsets._AOT_MODULE is not None, "numba": "numba" in sys.modules, "best": []}
for i in range(6):
    cam = rng.random((9, 9)) ** (1 + i % 3)
    m = np.kron(cam, np.ones((7, 7)))
    if i % 2:
        m = np.maximum(m, 0.4 * rng.random(m.shape))
    m = (m - m.min()) / (m.max() - m.min())
    gt = np.array([[5, 8, 40, 50], [30, 20, 60, 62]])
    for multi in (False, True):
        best = best_iou_per_threshold(quantize(m), gt, np.arange(0, 1, 0.002), multi)
        out["best"].append(best.tolist())
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed (fast-eval extra)")
def test_compiled_module_equals_jit_kernels(tmp_path):
    env = dict(os.environ, **{_aot.DIR_ENV: str(tmp_path), "PYTHONPATH": str(REPO)})
    env.pop("MOANA_DISABLE_NUMBA", None)
    build = "from moana.metrics._aot import build; print(build())"
    subprocess.run([sys.executable, "-c", build], env=env, cwd=REPO, check=True,
                   capture_output=True, text=True)
    runs = {}
    for flag in ("1", "0"):
        out = subprocess.run([sys.executable, "-c", _COMPARE], env=dict(env, MOANA_AOT=flag),
                             cwd=REPO, check=True, capture_output=True, text=True)
        runs[flag] = json.loads(out.stdout)
    assert runs["1"]["aot"] and not runs["1"]["numba"]  # compiled module, numba not imported
    assert not runs["0"]["aot"] and runs["0"]["numba"]
    for a, b in zip(runs["1"]["best"], runs["0"]["best"], strict=True):
        np.testing.assert_array_equal(a, b)
