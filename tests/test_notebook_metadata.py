"""normalize_notebook_metadata: a notebook that JupyterLab opens and saves stays byte-identical
(kernelspec + language_info as the kernel reports them, .ipynb and paired .py as jupytext
writes them), and the kernels of `moana reproduce` get the inline matplotlib backend."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest

from moana import reproduce as rep

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
STAGE = "03_attention_maps"


def _jupyterlab_save(ipynb: Path) -> None:
    """What JupyterLab (with jupytext's pairing) does on open + save: inputs from the paired
    .py, outputs from the .ipynb, the running kernel's spec and language_info, both files
    written back."""
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import KernelSpecManager

    text_nb = jupytext.read(ipynb.with_suffix(".py"))
    nb = jupytext.combine.combine_inputs_with_outputs(text_nb, jupytext.read(ipynb))
    spec = KernelSpecManager().get_kernel_spec(nb.metadata["kernelspec"]["name"])
    nb.metadata["kernelspec"] = {"display_name": spec.display_name, "language": spec.language,
                                 "name": nb.metadata["kernelspec"]["name"]}
    nb.metadata["language_info"] = dict(IPythonKernel.language_info)
    jupytext.write(nb, ipynb, fmt="ipynb")
    jupytext.write(nb, ipynb.with_suffix(".py"), fmt="py:percent")


def _copy_pair(tmp_path: Path) -> Path:
    for ext in (".ipynb", ".py"):
        shutil.copy2(NOTEBOOKS / f"{STAGE}{ext}", tmp_path / f"{STAGE}{ext}")
    return tmp_path / f"{STAGE}.ipynb"


def _bytes(ipynb: Path) -> tuple[bytes, bytes]:
    return ipynb.read_bytes(), ipynb.with_suffix(".py").read_bytes()


def test_normalized_notebook_survives_a_jupyterlab_save(tmp_path):
    ipynb = _copy_pair(tmp_path)
    rep.normalize_notebook_metadata(ipynb)
    before = _bytes(ipynb)
    assert rep.normalize_notebook_metadata(ipynb) == []  # idempotent
    _jupyterlab_save(ipynb)
    assert _bytes(ipynb) == before
    nb = nbformat.read(ipynb, as_version=4)
    assert nb.metadata["kernelspec"]["display_name"] == "Python 3 (ipykernel)"
    assert nb.metadata["language_info"]["name"] == "python"
    assert all(c.get("outputs", []) == [] for c in nb.cells)  # still stripped


def test_an_unnormalized_notebook_is_rewritten_by_a_jupyterlab_save(tmp_path):
    ipynb = _copy_pair(tmp_path)
    nb = jupytext.read(ipynb)
    nb.metadata["kernelspec"]["display_name"] = "Python 3"  # what the kit used to commit
    nb.metadata.pop("language_info", None)
    jupytext.write(nb, ipynb, fmt="ipynb")
    jupytext.write(nb, ipynb.with_suffix(".py"), fmt="py:percent")
    before = _bytes(ipynb)
    _jupyterlab_save(ipynb)
    assert _bytes(ipynb)[0] != before[0] and _bytes(ipynb)[1] != before[1]


def test_normalize_changes_only_the_metadata(tmp_path):
    ipynb = _copy_pair(tmp_path)
    original = nbformat.read(ipynb, as_version=4)
    changed = rep.normalize_notebook_metadata(ipynb, python_version="3.12.1")
    names = {p.name for p in changed}  # the .py header names no Python version
    assert f"{STAGE}.ipynb" in names and names <= {f"{STAGE}.ipynb", f"{STAGE}.py"}
    nb = nbformat.read(ipynb, as_version=4)
    assert [c.source for c in nb.cells] == [c.source for c in original.cells]
    assert nb.metadata["language_info"]["version"] == "3.12.1"
    assert nb.metadata["jupytext"] == original.metadata["jupytext"]
    with pytest.raises(FileNotFoundError):
        rep.normalize_notebook_metadata(tmp_path / "missing.ipynb")


def test_kernel_environment_sets_and_restores(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    with rep.kernel_environment(MPLBACKEND=rep.KERNEL_MPLBACKEND):
        assert os.environ["MPLBACKEND"] == rep.KERNEL_MPLBACKEND
    assert os.environ["MPLBACKEND"] == "Agg"
    monkeypatch.delenv("MPLBACKEND")
    with rep.kernel_environment(MPLBACKEND="x"):
        pass
    assert "MPLBACKEND" not in os.environ


def test_executed_copy_keeps_its_figure(tmp_path, monkeypatch):
    """Through the real papermill runner, with MPLBACKEND=Agg inherited (as make test sets):
    the figure of the executed copy is an image/png output."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x: int = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, x])\nplt.show()"),
    ])
    nb.metadata["kernelspec"] = dict(rep.KERNELSPEC)
    nbformat.write(nb, tmp_path / "in.ipynb")
    rep.papermill_executor("python3", progress_bar=False)(tmp_path / "in.ipynb",
                                                         tmp_path / "out.ipynb", {"x": 2})
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    kinds = [o.get("data", {}).keys() for o in out.cells[-1].outputs]
    assert any("image/png" in k for k in kinds), out.cells[-1].outputs


def test_notebooks_dir_discovery(tmp_path, monkeypatch):
    assert rep.find_notebooks_dir() == rep.NOTEBOOKS_DIR  # a checkout
    monkeypatch.setattr(rep, "NOTEBOOKS_DIR", tmp_path / "absent")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="--notebooks DIR"):
        rep.find_notebooks_dir()
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "notebooks" / "x.ipynb")
    assert rep.find_notebooks_dir() == tmp_path / "notebooks"
    with pytest.raises(FileNotFoundError, match="no .ipynb"):
        rep.find_notebooks_dir(tmp_path / "empty")


def test_committed_notebooks_carry_jupyterlab_metadata(tmp_path):
    """Opening and saving a committed notebook in JupyterLab changes nothing in git: normalizing
    copies of the committed pairs rewrites neither file."""
    folder = Path(__file__).resolve().parents[1] / "notebooks"
    for notebook in sorted(folder.glob("*.ipynb")):
        for source in (notebook, notebook.with_suffix(".py")):
            shutil.copy(source, tmp_path / source.name)
        assert rep.normalize_notebook_metadata(tmp_path / notebook.name) == [], notebook
