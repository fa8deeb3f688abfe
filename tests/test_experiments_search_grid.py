"""Per-cell commands recorded by the WSOL grid and the searched grid (results/README.md)."""

from __future__ import annotations

import json

from moana.experiments.grid import COMMAND_FILE, cell_command, grid_overrides
from moana.experiments.search_grid import HPARAMS_FILE, commands_of, hparams_label, labelled_runs
from moana.train.run import Run


def test_cell_command_keeps_the_cell_and_leaves_the_synthetic_data_to_work_dir():
    cell = grid_overrides("small", "cam", seed=1, device="cpu", epochs=3, data_overrides=[
        "data.dataset=synthetic", "data.data_root=/abs/work/data/synthetic_wsol",
        'data.synthetic={"seed": 0}'], overrides=["optim.lr=0.1"])
    command = cell_command("moana train", "smoke_cam", cell)
    assert command == ("moana train --config smoke_cam --work-dir work model.arch=small "
                       "model.method=cam runtime.seed=1 runtime.device=cpu optim.lr=0.1 "
                       "optim.epochs=3")
    real = cell_command("moana train", "cub_resnet50_cam",
                        ["data.dataset=CUB", "data.data_root=/data dir"], flags=["--quiet"])
    assert "'data.data_root=/data dir'" in real and real.index("--quiet") < real.index("data.")


def test_commands_of_picks_one_row_per_kind(tmp_path):
    for name, searched in (("small-cam", False), ("small-moana", False), ("s/small-cam", True)):
        run = tmp_path / name
        run.mkdir(parents=True)
        (run / COMMAND_FILE).write_text(f"moana train --config {name}\n")
        if searched:
            (run / HPARAMS_FILE).write_text(json.dumps({"study": "small-cam", "best_trial": 2,
                                                         "trials": 4}))
    runs = labelled_runs(tmp_path, tmp_path / "s", tmp_path / "missing")
    labels = {(b, m, h) for b, m, _, h in runs}
    assert ("small", "cam", "searched (study small-cam, trial 2 of 4)") in labels
    text = commands_of(runs)
    assert text.count("default rows") == 1 and text.count("searched rows") == 1
    assert "`moana train --config small-cam`" in text
    assert hparams_label(Run(tmp_path / "small-moana")) == "default"


def test_ablation_and_wsss_cell_commands():
    from moana.experiments.ablation import run_command
    from moana.experiments.wsss import wsss_command

    cmd = run_command("smoke_moana", "axes=c", 2, epochs=3, threads=1)
    assert cmd.startswith("OMP_NUM_THREADS=1 moana train --config smoke_moana --work-dir work ")
    assert "'model.attention_kw={\"axes\": \"c\"}'" in cmd and "runtime.seed=2" in cmd
    assert cmd.endswith("optim.epochs=3")
    own_data = run_command("smoke_moana", "cam+mark_hidden", 0)
    assert "data.data_root=work/data/synthetic_wsol-" in own_data
    assert wsss_command("smoke", "moana", seed=0, device="cpu").startswith(
        "moana wsss run --config smoke --methods moana --work-dir work/wsss ")
