"""``moana reproduce`` as a report: parameters checked before any notebook starts, progress
lines from inside a stage, the notebook's own error first, executed copies without machine
paths or timing metadata."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from moana.reproduce.nbclean import publish_executed, relative_replacements
from moana.progress import PROGRESS_ENV, report
from moana.reproduce import NOTEBOOKS_DIR, _failure_sentence, check_parameters, progress_echo
from moana.reproduce.profiles import STAGES


@pytest.mark.parametrize("override, message", [
    ({"01.methods": "cam"}, "methods expects list, got str 'cam'"),
    ({"01.epoch": 1}, "01_train_wsol has no parameter 'epoch'; valid names: .*epochs"),
    ({"nonsense": 1}, "no selected stage has a parameter 'nonsense'"),
    ({"03.num_images": "many"}, "num_images expects int"),
    ({"01.reuse_runs": 1}, "reuse_runs expects bool"),
])
def test_overrides_checked_against_the_parameters_cells(override, message):
    with pytest.raises(ValueError, match=message):
        check_parameters("smoke", STAGES, NOTEBOOKS_DIR, override, work_dir=Path("w"))


def test_valid_overrides_and_both_presets_pass():
    for profile in ("smoke", "paper"):
        check_parameters(profile, STAGES, NOTEBOOKS_DIR, {}, work_dir=Path("w"))
    check_parameters("smoke", STAGES, NOTEBOOKS_DIR,
                     {"01.epochs": None, "epochs": 2, "03.threshold": 1, "01.methods": ["cam"]},
                     work_dir=Path("w"))
    # a stage that is not selected is not checked (its notebook is not opened)
    check_parameters("smoke", ["00_data_prep"], NOTEBOOKS_DIR, {"03.num_images": 2}, work_dir=Path("w"))


def test_progress_lines_reach_the_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    report("ignored: no runner")  # no file named: nothing happens
    with progress_echo(tmp_path / "p.txt", "  01: ", interval_s=0.05):
        report("run small-cam: epoch 1/10, 3 s")
        report("run small-cam: epoch 2/10, 6 s")
    out = capsys.readouterr().out
    assert "  01: run small-cam: epoch 1/10, 3 s\n  01: run small-cam: epoch 2/10, 6 s" in out
    assert not (tmp_path / "p.txt").exists()


def test_failure_sentence_comes_first():
    from papermill.exceptions import PapermillExecutionError

    err = PapermillExecutionError(3, 5, "src", "FileNotFoundError",
                                  "data.json not found: run stage 00_data_prep first",
                                  ["Traceback ...", "  File x", "FileNotFoundError: ..."])
    assert _failure_sentence(err) == ("FileNotFoundError: data.json not found: run stage "
                                      "00_data_prep first (cell In [5])")
    assert _failure_sentence(RuntimeError("line 1\nthe point")) == "RuntimeError: the point"


def test_published_copy_has_no_machine_paths_or_timing(tmp_path):
    staging, work, nbs = tmp_path / ".results.staging-x1", tmp_path / "work", tmp_path / "notebooks"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(f'work_dir = "{work}"\noutput_dir = "{staging}"',
                                  metadata={"execution": {"iopub.status.busy": "2026"},
                                            "papermill": {"duration": 1.0, "status": "completed"}},
                                  outputs=[nbformat.v4.new_output(
                                      "execute_result", {"text/plain": f"PosixPath('{staging}/f.png')",
                                                         "application/vnd.jupyter.widget-view+json": {}})]),
    ])
    nb.metadata["papermill"] = {"start_time": "t", "end_time": "t", "duration": 3.0,
                                "parameters": {"work_dir": str(work)}}
    nb.metadata["widgets"] = {"state": {}}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    publish_executed(path, relative_replacements(
        {staging: tmp_path / "results", work: work, nbs: nbs}, cwd=nbs))
    text = path.read_text()
    assert str(tmp_path) not in text and "duration" not in text and "iopub" not in text
    data = json.loads(text)
    assert "".join(data["cells"][0]["source"]) == 'work_dir = "../work"\noutput_dir = "../results"'
    assert data["cells"][0]["outputs"] == []  # the widget output: dropped
    assert data["metadata"]["papermill"] == {"parameters": {"work_dir": "../work"}}
    nbformat.validate(nbformat.read(path, as_version=4))
