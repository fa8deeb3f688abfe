"""notebooks/: committed without outputs, paired with their jupytext .py, typed parameters; and
(slow) every stage executed with papermill at a minimal parameter set, in order."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

from moana.reproduce.profiles import PROFILES, STAGES

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL = "python3"
COMMON = ("profile", "work_dir", "output_dir", "seed", "device")


@pytest.mark.parametrize("stage", STAGES)
def test_notebook_is_stripped(stage):
    nb = nbformat.read(NOTEBOOKS / f"{stage}.ipynb", as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{stage}.ipynb cell {index} has outputs: run nbstripout"
            assert cell.execution_count is None, f"{stage}.ipynb cell {index} has an execution count"
        extra = set(cell.metadata) - {"tags", "jupyter"}
        assert not extra, f"{stage}.ipynb cell {index} keeps metadata {sorted(extra)}: run nbstripout"
    assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL


@pytest.mark.parametrize("stage", STAGES)
def test_notebook_matches_paired_py(stage):
    ipynb = nbformat.read(NOTEBOOKS / f"{stage}.ipynb", as_version=4)
    py = jupytext.read(NOTEBOOKS / f"{stage}.py")
    got = [(c.cell_type, c.source.strip()) for c in ipynb.cells]
    want = [(c.cell_type, c.source.strip()) for c in py.cells]
    assert got == want, (f"{stage}.ipynb and {stage}.py differ: run "
                         f"`jupytext --sync notebooks/{stage}.py` (then nbstripout)")


@pytest.mark.parametrize("stage", STAGES)
def test_parameters_cell_is_typed_and_documented(stage):
    from papermill.inspection import inspect_notebook

    params = inspect_notebook(str(NOTEBOOKS / f"{stage}.ipynb"))
    for name in COMMON:
        assert name in params, f"{stage}: parameter {name!r} missing"
    for name, info in params.items():
        assert info["inferred_type_name"] != "None", f"{stage}: {name} has no type annotation"
        assert info["help"], f"{stage}: {name} has no inline help comment"
    for profile, preset in PROFILES.items():
        unknown = set(preset[stage]) - set(params)
        assert not unknown, f"profile {profile} sets unknown parameters {sorted(unknown)} of {stage}"


def _check_outputs(out: Path, tables: list[str], figures: list[str]) -> None:
    for name in tables:
        for ext in ("csv", "md", "meta.json"):
            assert (out / "tables" / f"{name}.{ext}").is_file(), f"tables/{name}.{ext}"
    for name in figures:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").is_file(), f"figures/{name}.{ext}"


@pytest.mark.slow
def test_every_notebook_runs_with_papermill(tmp_path):
    """The six stages in order at a minimal parameter set (synthetic data, a few steps)."""
    import papermill as pm

    work, out = tmp_path / "work", tmp_path / "out"
    minimal = {
        "00_data_prep": {"num_classes": 2, "per_class": {"train": 8, "val": 3, "test": 3},
                         "voc_synthetic": {"image_size": [48, 64], "num_train": 8, "num_val": 4, "num_classes": 3,
                                           "objects": [1, 2]}, "num_samples": 4},
        "01_train_wsol": {"epochs": 1},
        "02_ablations": {"variants": ["cam", "moana", "cam+mark_hidden"], "seeds": [0, 1], "epochs": 1,
                         "cost_arch": "small", "cost_image_size": 64, "cost_repeats": 1},
        "03_attention_maps": {"num_images": 2},
        "04_wsss_pseudo_masks": {"overrides": ["cam.epochs=1", "irn.epochs=1", "cam.scales=[1.0]"],
                                 "num_examples": 2},
        "05_tables_and_figures": {},
    }
    for stage in STAGES:
        params = {"work_dir": str(work), "output_dir": str(out), **minimal[stage]}
        pm.execute_notebook(str(NOTEBOOKS / f"{stage}.ipynb"), str(tmp_path / f"{stage}.ipynb"),
                            parameters=params, kernel_name=KERNEL, cwd=str(NOTEBOOKS),
                            progress_bar=False)
    _check_outputs(out, ["dataset_summary", "voc_summary", "wsol_training", "ablation_variants",
                         "ablations", "ablations_per_seed", "complexity", "wsss_miou",
                         "wsss_per_class_iou", "wsol_comparison", "benchmark_validity"],
                   ["data_samples", "training_curves", "ablations", "qualitative_cam_vs_moana",
                    "attention_axes_moana_0", "explorer_view_0", "wsss_per_class_iou",
                    "wsss_pseudo_masks", "box_accuracy_vs_threshold", "benchmark_validity"])
    validity = (out / "tables" / "benchmark_validity.csv").read_text().splitlines()
    assert validity[0].split(",")[:3] == ["role", "method", "n_seeds"]
    assert [line.split(",")[0] for line in validity[1:]] == ["floor", "baseline", "control",
                                                             "method", "ceiling"]
    executed = nbformat.read(tmp_path / "03_attention_maps.ipynb", as_version=4)
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")


@pytest.mark.parametrize("stage", STAGES)
def test_notebook_defaults_equal_the_smoke_profile(stage):
    """A notebook run by hand runs what `make reproduce` runs (its defaults are the smoke
    profile's values; the folders aside)."""
    import ast

    from moana.reproduce.nbparams import declared_parameters
    from moana.reproduce.profiles import PROFILES

    declared = declared_parameters(NOTEBOOKS / f"{stage}.ipynb")
    preset = {**PROFILES["smoke"].get("common", {}), **PROFILES["smoke"][stage]}
    # papermill's parameter parser cannot read a default list of strings holding "=" (variant
    # names like "axes=c"): the notebook keeps None (every variant) and the profile names them
    preset.pop("variants", None) if stage == "02_ablations" else None
    differ = {name: (ast.literal_eval(declared[name]["default"]), value)
              for name, value in preset.items()
              if name in declared and ast.literal_eval(declared[name]["default"]) != value}
    assert not differ, f"{stage}: notebook default vs smoke profile: {differ}"
