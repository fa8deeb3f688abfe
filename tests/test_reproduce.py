"""moana reproduce: staging, atomic publication, --only, failures; profiles and overrides.

Fast tests run tiny stand-in notebooks (one cell each) through the real papermill runner; the
slow test drives the paper profile end to end on a stand-in dataset in the real CUB / VOC layouts.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from moana.reproduce import profiles
from moana.cli import main as cli_main
from moana.reproduce.profiles import STAGES
from moana.reproduce import StageFailed, reproduce, select_stages

KERNEL = "python3"


def _toy_notebooks(folder: Path, *, fail: str | None = None) -> Path:
    """One notebook per stage; each writes a table and a figure named after the stage."""
    folder.mkdir(parents=True, exist_ok=True)
    for stage in STAGES:
        params = nbformat.v4.new_code_cell(
            'profile: str = "smoke"\nwork_dir: str = "w"\noutput_dir: str = "o"\nseed: int = 0\n'
            'device: str = "cpu"\ntag: str = "a"',
            metadata={"tags": ["parameters"]})
        body = (
            "import pandas as pd, matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
            "from moana.viz.tables import save_table\nfrom moana.viz.figures import save_figure\n"
            f"save_table(pd.DataFrame({{'x': [1], 'tag': [tag]}}), 't_{stage}', output_dir,"
            " caption='toy table', dataset='toy', synthetic=True)\n"
            f"save_figure(plt.figure(), 'f_{stage}', output_dir, caption='toy figure', dataset='toy',"
            " synthetic=True, formats=('png',))\n"
        )
        if stage == fail:
            body += "raise RuntimeError('stage broke on purpose')\n"
        nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(body)])
        nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / f"{stage}.ipynb")
    return folder


def test_stage_names_and_selection():
    assert profiles.stage_name("03") == "03_attention_maps"
    assert profiles.stage_name("3") == "03_attention_maps"
    assert profiles.stage_name("attention_maps") == "03_attention_maps"
    assert select_stages(["05,01"]) == ["01_train_wsol", "05_tables_and_figures"]
    assert select_stages(None) == list(STAGES)
    with pytest.raises(ValueError, match="unknown stage"):
        profiles.stage_name("07")


def test_profiles_cover_every_stage_and_overrides_apply():
    for name, preset in profiles.PROFILES.items():
        assert set(STAGES) <= set(preset), name
        params = profiles.stage_parameters(name, "01", work_dir="/w", output_dir="/o",
                                           overrides={"epochs": 1, "03.num_images": 2})
        assert params["profile"] == name and params["epochs"] == 1
        assert "num_images" not in params
        assert params["work_dir"] == "/w" and params["output_dir"] == "/o"
    p3 = profiles.stage_parameters("smoke", "03", work_dir="w", output_dir="o",
                                   overrides={"03.num_images": 2})
    assert p3["num_images"] == 2
    with pytest.raises(ValueError, match="unknown profile"):
        profiles.stage_parameters("huge", "01", work_dir="w", output_dir="o")


def test_parse_override():
    assert profiles.parse_override("01.epochs=1") == ("01.epochs", 1)
    assert profiles.parse_override("backbones=[small, resnet18]") == ("backbones", ["small", "resnet18"])
    with pytest.raises(ValueError, match="NAME=VALUE"):
        profiles.parse_override("epochs")
    with pytest.raises(ValueError, match="unknown stage"):
        profiles.parse_override("09.epochs=1")


def test_data_info_roundtrip_and_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="00_data_prep"):
        profiles.load_data_info(tmp_path)
    profiles.save_data_info(tmp_path, {"dataset": "synthetic", "root": tmp_path})
    assert profiles.load_data_info(tmp_path)["root"] == str(tmp_path)
    (tmp_path / "data.json").write_text("{\n oops")
    with pytest.raises(ValueError, match=r"data.json:2"):
        profiles.load_data_info(tmp_path)


def _fake_executor(fail: str | None = None, calls: list | None = None):
    """In-process stand-in for papermill: writes what the toy notebooks write."""
    import shutil

    import matplotlib.pyplot as plt
    import pandas as pd

    from moana.viz.figures import save_figure
    from moana.viz.tables import save_table

    def execute(notebook: Path, output: Path, params: dict) -> None:
        stage = notebook.stem
        if calls is not None:
            calls.append((stage, params))
        shutil.copy(notebook, output)
        out = params["output_dir"]
        save_table(pd.DataFrame({"x": [1], "tag": [params.get("tag", "a")]}), f"t_{stage}", out,
                   caption="toy table", dataset="toy", synthetic=True)
        save_figure(plt.figure(), f"f_{stage}", out, caption="toy figure", dataset="toy",
                    synthetic=True, formats=("png",))
        if stage == fail:
            raise RuntimeError("stage broke on purpose")

    return execute


def _check_full(results: Path, manifest: dict) -> None:
    assert list(manifest["stages"]) == list(STAGES)
    for stage in STAGES:
        assert (results / "tables" / f"t_{stage}.csv").is_file()
        assert (results / "tables" / f"t_{stage}.md").is_file()
        assert (results / "figures" / f"f_{stage}.png").is_file()
        assert (results / "notebooks" / f"{stage}.ipynb").is_file()
        assert f"tables/t_{stage}.csv" in manifest["stages"][stage]["files"]
    readme = (results / "README.md").read_text()
    assert "t_03_attention_maps" in readme and "toy table" in readme and "synthetic" in readme
    assert "reported" in readme.lower()


def test_full_run_publishes_and_failure_keeps_previous(tmp_path):
    nbs = _toy_notebooks(tmp_path / "nbs")
    results, work = tmp_path / "results", tmp_path / "work"
    results.mkdir()
    (results / ".gitkeep").write_text("")  # not managed: must survive
    calls: list = []
    manifest = reproduce("smoke", results_dir=results, work_dir=work, notebooks_dir=nbs,
                         execute=_fake_executor(calls=calls), echo=False)
    _check_full(results, manifest)
    assert [c[0] for c in calls] == list(STAGES)
    assert calls[1][1]["profile"] == "smoke" and calls[1][1]["work_dir"] == str(work.resolve())
    assert (results / ".gitkeep").is_file()
    assert not list(tmp_path.glob(".results.staging-*"))
    before = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}

    with pytest.raises(StageFailed, match="03_attention_maps"):
        reproduce("smoke", results_dir=results, work_dir=work, notebooks_dir=nbs,
                  execute=_fake_executor(fail="03_attention_maps"), echo=False)
    after = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    assert after == before
    assert (work / "failed" / "03_attention_maps.ipynb").is_file()
    assert not list(tmp_path.glob(".results.staging-*"))


def test_only_replaces_that_stage(tmp_path):
    nbs = _toy_notebooks(tmp_path / "nbs")
    results, work = tmp_path / "results", tmp_path / "work"
    reproduce("smoke", results_dir=results, work_dir=work, notebooks_dir=nbs, only=["00", "03"],
              execute=_fake_executor(), echo=False)
    old_00 = (results / "tables" / "t_00_data_prep.csv").read_bytes()
    (results / "tables" / "stale_03.csv").write_text("x")
    manifest = json.loads((results / "manifest.json").read_text())
    manifest["stages"]["03_attention_maps"]["files"].append("tables/stale_03.csv")
    (results / "manifest.json").write_text(json.dumps(manifest))

    new = reproduce("smoke", results_dir=results, work_dir=work, notebooks_dir=nbs, only=["03"],
                    overrides={"tag": "b"}, execute=_fake_executor(), echo=False)
    assert set(new["stages"]) == {"00_data_prep", "03_attention_maps"}
    assert (results / "tables" / "t_00_data_prep.csv").read_bytes() == old_00
    assert "b" in (results / "tables" / "t_03_attention_maps.csv").read_text()
    assert not (results / "tables" / "stale_03.csv").exists()
    assert (results / "notebooks" / "00_data_prep.ipynb").is_file()


def test_missing_notebook_and_bad_manifest(tmp_path):
    nbs = _toy_notebooks(tmp_path / "nbs")
    (nbs / "02_ablations.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match="02_ablations.ipynb"):
        reproduce("smoke", results_dir=tmp_path / "r", work_dir=tmp_path / "w", notebooks_dir=nbs,
                  execute=_fake_executor(), echo=False)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "manifest.json").write_text("{")
    with pytest.raises(ValueError, match="manifest.json:1"):
        reproduce("smoke", results_dir=tmp_path / "r", work_dir=tmp_path / "w", notebooks_dir=nbs,
                  only=["00"], execute=_fake_executor(), echo=False)


def test_cli_exit_codes(tmp_path, capsys, monkeypatch):
    import moana.reproduce as rep

    nbs = _toy_notebooks(tmp_path / "nbs")
    monkeypatch.setattr(rep, "papermill_executor", lambda *a, **k: _fake_executor(fail="00_data_prep"))
    code = cli_main(["reproduce", "--only", "00", "--results", str(tmp_path / "r"),
                     "--work-dir", str(tmp_path / "w"), "--notebooks", str(nbs)])
    assert code == 1
    assert "stage 00_data_prep failed" in capsys.readouterr().err
    assert not (tmp_path / "r" / "README.md").exists()
    code = cli_main(["reproduce", "--only", "00", "--results", str(tmp_path / "r"),
                     "--work-dir", str(tmp_path / "r" / "w"), "--notebooks", str(nbs)])
    assert code == 1  # work dir inside results: refused with a clear message
    assert "must not contain" in capsys.readouterr().err
    monkeypatch.setattr(rep, "papermill_executor", lambda *a, **k: _fake_executor())
    code = cli_main(["reproduce", "--only", "00", "--results", str(tmp_path / "r"),
                     "--work-dir", str(tmp_path / "w"), "--notebooks", str(nbs), "-p", "tag=z"])
    assert code == 0
    assert "z" in (tmp_path / "r" / "tables" / "t_00_data_prep.csv").read_text()


@pytest.mark.slow
def test_papermill_runner_with_real_kernels(tmp_path):
    """The same guarantees through papermill and real kernels (the toy notebooks)."""
    results, work = tmp_path / "results", tmp_path / "work"
    manifest = reproduce("smoke", results_dir=results, work_dir=work,
                         notebooks_dir=_toy_notebooks(tmp_path / "nbs"), kernel_name=KERNEL, echo=False)
    _check_full(results, manifest)
    before = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    with pytest.raises(StageFailed, match="stage broke on purpose"):
        reproduce("smoke", results_dir=results, work_dir=work, only=["03"], kernel_name=KERNEL,
                  notebooks_dir=_toy_notebooks(tmp_path / "broken", fail="03_attention_maps"), echo=False)
    assert {p: p.read_bytes() for p in results.rglob("*") if p.is_file()} == before


# ------------------------------------------------------------------------------ paper profile
def _standin_cub(reference: Path, root: Path, per_split: int = 4) -> tuple[Path, Path]:
    """CUB layout with the first images of the real metadata, drawn at their listed sizes."""
    import numpy as np
    from PIL import Image

    from moana.data.metadata import load_wsol_metadata

    data_root, meta_root = root / "data", root / "data" / "metadata"
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        meta = load_wsol_metadata(reference / "wsol_metadata" / "CUB" / split)
        # two classes so that classification has something to learn, at most per_split images
        ids = [i for i in meta.image_ids if meta.class_labels[i] in (0, 1)][:per_split]
        out = meta_root / "CUB" / split
        out.mkdir(parents=True)
        labels = {i: meta.class_labels[i] for i in ids}
        (out / "image_ids.txt").write_text("\n".join(ids))
        (out / "class_labels.txt").write_text("\n".join(f"{i},{labels[i]}" for i in ids))
        (out / "image_sizes.txt").write_text(
            "\n".join(f"{i},{meta.image_sizes[i][0]},{meta.image_sizes[i][1]}" for i in ids))
        (out / "localization.txt").write_text("\n".join(
            f"{i},{x0},{y0},{x1},{y1}" for i in ids for (x0, y0, x1, y1) in meta.boxes[i]))
        for i in ids:
            w, h = meta.image_sizes[i]
            path = data_root / "CUB" / i
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return data_root, meta_root


def _standin_voc(reference: Path, root: Path, count: int = 6) -> Path:
    """VOC2012 layout: the first ids of the real lists, random images and label maps."""
    import numpy as np
    from PIL import Image

    from moana.data.voc import load_cls_labels, read_id_list, save_cls_labels

    voc = root / "VOC2012"
    labels = load_cls_labels(reference / "voc12" / "cls_labels.npy")
    rng = np.random.default_rng(0)
    lists = {}
    for name in ("train", "val"):
        lists[name] = read_id_list(reference / "voc12" / f"{name}.txt")[:count]
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    for name, ids in lists.items():
        (voc / "ImageSets" / "Segmentation" / f"{name}.txt").write_text("\n".join(ids) + "\n")
    (voc / "train_aug.txt").write_text("\n".join(lists["train"]) + "\n")
    subset = {}
    for image_id in lists["train"] + lists["val"]:
        h, w = (int(v) for v in rng.integers(48, 64, size=2))
        (voc / "JPEGImages").mkdir(exist_ok=True)
        (voc / "SegmentationClass").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(voc / "JPEGImages" / f"{image_id}.jpg")
        present = np.flatnonzero(labels[image_id]) + 1
        label = np.zeros((h, w), np.uint8)
        label[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = present[0]
        image = Image.fromarray(label, mode="P")
        image.save(voc / "SegmentationClass" / f"{image_id}.png")
        subset[image_id] = labels[image_id]
    save_cls_labels(voc / "cls_labels.npy", subset)
    return voc


@pytest.mark.slow
def test_paper_profile_on_standin_layout(tmp_path, reference_dir):
    """Every stage of the paper profile reads the real layouts and writes its outputs."""
    data_root, meta_root = _standin_cub(reference_dir, tmp_path)
    voc = _standin_voc(reference_dir, tmp_path)
    tiny_train = ["optim.batch_size=4", "data.num_workers=0", "data.image_size=64",
                  "data.crop_size=64", "data.resize_size=72", "eval.cam_step=0.05",
                  "model.pretrained=null"]
    small = {
        "device": "cpu",
        "00.data_root": str(data_root), "00.metadata_root": str(meta_root), "00.voc_root": str(voc),
        "01.backbones": ["resnet18"], "01.config_template": "cub_resnet50_{method}", "01.epochs": 1,
            "01.methods": ["cam", "has", "moana"],  # ACoL/SPG are built on the wsolevaluation backbones
        "01.overrides": tiny_train,
        "01.search_methods": ["cam"], "01.search_trials": 2, "01.search_epochs": 1,
        "02.variants": ["cam", "moana"], "02.seeds": [0], "02.epochs": 1,
        "02.overrides": ["model.arch=resnet18", *tiny_train],
        "02.cost_arch": "resnet18", "02.cost_image_size": 64, "02.cost_repeats": 1,
        "03.backbone": "resnet18", "03.num_images": 2,
        "04.overrides": ["cam.arch=resnet18", "irn.backbone=resnet18", "cam.epochs=1", "irn.epochs=1",
                         "cam.crop_size=48", "irn.crop_size=48", "cam.resize_long=[48, 64]",
                         "irn.rescale=[0.75, 1.0]", "cam.batch_size=4", "irn.batch_size=4",
                         "cam.scales=[1.0]", "cam.pretrained=null", "irn.pretrained=null",
                         "cam.num_workers=0", "ir_label.num_workers=0", "irn.num_workers=0",
                         "data.train_list=train", "data.infer_list=val", "data.eval_list=val",
                         "seg.backbone=small", "seg.train_list=train", "seg.crop_size=48",
                         "seg.batch_size=4", "seg.iterations=4", "seg.checkpoint_every=0",
                         "seg.eval_scales=[1.0]", "seg.num_workers=0"],
        "04.num_examples": 2,
        "05.cam_backbone": "resnet18", "05.cam_runs": ["cam", "moana"],
        "05.cam_methods": ["cam", "gradcam"], "05.photo_methods": ["cam", "gradcam"],
    }
    results = tmp_path / "results"
    manifest = reproduce("paper", results_dir=results, work_dir=tmp_path / "work", overrides=small,
                         kernel_name=KERNEL, echo=False)
    assert list(manifest["stages"]) == list(STAGES)
    for name in ("dataset_summary", "wsol_training", "ablations", "complexity", "wsss_miou",
                 "wsol_comparison", "wsol_search", "cam_methods", "cam_methods_photos"):
        assert (results / "tables" / f"{name}.csv").is_file(), name
    for name in ("data_samples", "training_curves", "qualitative_cam_vs_moana", "box_accuracy_vs_threshold",
                 "wsss_pseudo_masks"):
        assert (results / "figures" / f"{name}.png").is_file(), name
    readme = (results / "README.md").read_text()
    assert "CUB" in readme and "paper" in readme
