"""The searched half of the WSOL grid (stage 01): for each (backbone, method) a hyperparameter
search on val (train-fullsup, :func:`moana.search.study.search`), then the best config trained
once and reported on test into ``<runs_root>/<backbone>-<method>``, with ``hparams.json``
saying which study and trial it came from."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from moana.experiments.grid import COMMAND_FILE, cell_command, grid_overrides
from moana.io import atomic_write_text
from moana.train.run import Run

__all__ = ["HPARAMS_FILE", "commands_of", "hparams_label", "labelled_runs", "search_grid"]

HPARAMS_FILE = "hparams.json"


def hparams_label(run: Run) -> str:
    """``default`` for a run of a shipped config, else ``searched (study S, trial k of N)``."""
    path = run.path / HPARAMS_FILE
    if not path.is_file():
        return "default"
    info = json.loads(path.read_text())
    return f"searched (study {info['study']}, trial {info['best_trial']} of {info['trials']})"


def search_grid(search_root: str | Path, runs_root: str | Path, backbones: Sequence[str],
                methods: Sequence[str], *, config_template: str = "smoke_{method}",
                trials: int = 30, sampler: str = "random", seed: int = 0, device: str = "auto",
                data_overrides: Sequence[str] = (), overrides: Sequence[str] = (),
                epochs: int | None = None, reuse_runs: bool = False) -> pd.DataFrame:
    """Search every (backbone, method) and train its best config once on test.

    The search of a cell lives in ``<search_root>/<backbone>-<method>`` (resumed when it is
    there); its space is the shipped one named like the config (``smoke_cam``), else the
    method's (``cam``). ``overrides`` (and ``epochs``) apply to every trial and so to the best
    config. Returns
    one row per cell: trials, best trial, its val score, mean seconds per trial, the searched
    run's test top1_cls / MaxBoxAccV2 / PxAP.
    """
    from moana.search.space import default_space
    from moana.search.study import SearchSettings, search
    from moana.train import fit, load_config

    rows: list[dict[str, Any]] = []
    for backbone in backbones:
        for method in methods:
            name = config_template.format(backbone=backbone, method=method)
            cell = f"{backbone}-{method}"
            search_dir = Path(search_root) / cell
            run = Run(Path(runs_root) / cell)
            cell_overrides = grid_overrides(backbone, method, seed=seed, device=device,
                                            data_overrides=data_overrides, overrides=overrides,
                                            epochs=epochs)
            if not reuse_runs:
                shutil.rmtree(search_dir, ignore_errors=True)
            start = time.perf_counter()
            summary = search(name, search_dir=search_dir, overrides=cell_overrides,
                             space=default_space(name, method),
                             settings=SearchSettings(trials=trials, sampler=sampler, seed=seed))
            if not (reuse_runs and run.finished):
                shutil.rmtree(run.path, ignore_errors=True)
                fit(load_config(search_dir / "best.yaml"), run_dir=run.path, quiet=True)
                flags = ["--trials", str(trials), "--sampler", sampler, "--seed", str(seed)]
                best = f"work/search/{cell}/best.yaml"
                atomic_write_text(run.path / COMMAND_FILE, cell_command(
                    "moana search", name, cell_overrides, flags=flags)
                    + f" --search-dir work/search/{cell} && moana train --config {best} "
                      "--work-dir work\n")
                atomic_write_text(run.path / HPARAMS_FILE, json.dumps(
                    {**{k: summary[k] for k in ("study", "space", "sampler", "best_trial",
                                                "best_value", "best_params", "objective")},
                     "trials": summary["trials_complete"], "search_dir": str(search_dir)},
                    indent=2))
            metrics = run.metrics("test")
            rows.append({"backbone": backbone, "method": method, "config": name,
                         "space": summary["space"], "trials": summary["trials_complete"],
                         "best_trial": summary["best_trial"],
                         "best_val": summary["best_value"],
                         "s_per_trial": summary["mean_wall_s_per_trial"],
                         "seconds": round(time.perf_counter() - start, 1),
                         "test_MaxBoxAccV2": metrics.get("MaxBoxAccV2"),
                         "test_PxAP": metrics.get("PxAP"),
                         **{f"best {k}": v for k, v in (summary["best_params"] or {}).items()}})
    return pd.DataFrame(rows)


def labelled_runs(*roots: str | Path) -> list[tuple[str, str, Run, str]]:
    """(backbone, method, Run, :func:`hparams_label`) of every run under each existing root
    (stage 01's default runs, then its searched runs)."""
    from moana.train.run import find_runs

    return [(b, m, run, hparams_label(run)) for root in roots if Path(root).is_dir()
            for b, m, run in find_runs(root)]


def commands_of(runs: Sequence[tuple[str, str, Run, str]]) -> str | None:
    """One recorded command per kind of row (default, searched) of :func:`labelled_runs`'s
    runs, joined with ``;`` — what results/README.md shows to regenerate one cell."""
    from moana.experiments.grid import run_command

    picked: dict[str, str] = {}
    for backbone, method, run, hparams in runs:
        kind = "searched" if hparams.startswith("searched") else "default"
        command = run_command(run)
        if command and kind not in picked:
            picked[kind] = f"{kind} rows (e.g. {backbone}-{method}): `{command}`"
    return "; ".join(picked.values()) or None
