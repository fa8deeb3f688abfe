"""The WSOL training grid: every (backbone, method) trained through :func:`moana.train.fit`
into ``<runs_root>/<backbone>-<method>`` (stage 01; CAM vs MoANA, Sohn et al. Sci. Rep. 2023)."""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from moana.io import atomic_write_text
from moana.train.run import Run


def grid_overrides(backbone: str, method: str, *, seed: int = 0, device: str = "auto",
                   data_overrides: Sequence[str] = (), overrides: Sequence[str] = (),
                   epochs: int | None = None) -> list[str]:
    """Config overrides of one grid cell (the data's, then ``overrides``, then the epochs)."""
    out = [f"model.arch={backbone}", f"model.method={method}", f"runtime.seed={seed}",
           f"runtime.device={device}", f"name={backbone}-{method}", *data_overrides, *overrides]
    if epochs is not None:
        out.append(f"optim.epochs={int(epochs)}")
    return out


#: what a run dir records as the command that trains it alone
COMMAND_FILE = "command.txt"
_SYNTHETIC_DATA_KEYS = ("data.dataset=synthetic", "data.data_root=", "data.synthetic=")


def cell_command(program: str, config: str, cell_overrides: Sequence[str], *,
                 flags: Sequence[str] = (), work_dir: str = "work") -> str:
    """The shell command that runs one grid cell alone (``program`` is ``moana train`` or
    ``moana search``): the config, ``--work-dir``, ``flags`` and the cell's overrides, less its
    ``name`` and, for the synthetic benchmark, less the data keys (``--work-dir`` finds the
    benchmark stage 00 made there)."""
    synthetic = any(o.startswith("data.dataset=synthetic") for o in cell_overrides)
    kept = [o for o in cell_overrides if not o.startswith("name=")
            and not (synthetic and o.startswith(_SYNTHETIC_DATA_KEYS))]
    return " ".join([program, "--config", shlex.quote(config), "--work-dir", work_dir,
                     *map(shlex.quote, flags), *map(shlex.quote, kept)])


def run_command(run: Run) -> str | None:
    """The command recorded in a run directory (:data:`COMMAND_FILE`), if any."""
    path = run.path / COMMAND_FILE
    return path.read_text().strip() if path.is_file() else None


def evaluation_label(eval_cfg: Any) -> str:
    """Which evaluation a run used: its ``eval.preset`` (``wsolevaluation`` or
    ``official_moana``), else ``<cam_normalization>, step <cam_step>, <all|largest> contour(s)``."""
    if eval_cfg.preset:
        return str(eval_cfg.preset)
    contours = "all contours" if eval_cfg.multi_contour else "largest contour"
    return f"{eval_cfg.cam_normalization}, step {eval_cfg.cam_step:g}, {contours}"


def train_grid(runs_root: str | Path, backbones: Sequence[str], methods: Sequence[str], *,
               config_template: str = "smoke_{method}", seed: int = 0, device: str = "auto",
               data_overrides: Sequence[str] = (), overrides: Sequence[str] = (),
               epochs: int | None = None, reuse_runs: bool = False) -> pd.DataFrame:
    """Train (or, with ``reuse_runs``, reuse finished) runs of every (backbone, method).

    ``config_template`` is formatted with ``backbone`` and ``method`` to name the config. A run
    that is not reused is trained from scratch (its old folder is deleted). Returns one row per
    run: backbone, method, config, epochs, seconds, best_epoch (the evaluated checkpoint's
    epoch), checkpoint (``last`` or ``best``), evaluation (:func:`evaluation_label`) and test
    top1_cls / MaxBoxAccV2 / PxAP (percent; None when the split has no boxes or masks).
    """
    from moana.train import fit, load_config

    records: list[dict[str, Any]] = []
    for backbone in backbones:
        for method in methods:
            run = Run(Path(runs_root) / f"{backbone}-{method}")
            name = config_template.format(backbone=backbone, method=method)
            cell = grid_overrides(backbone, method, seed=seed, device=device,
                                  data_overrides=data_overrides, overrides=overrides,
                                  epochs=epochs)
            config = load_config(name, cell)
            start = time.perf_counter()
            if reuse_runs and run.finished:
                print(f"{backbone}-{method}: reusing {run.path}")
            else:
                shutil.rmtree(run.path, ignore_errors=True)
                fit(config, run_dir=run.path, quiet=True)
                atomic_write_text(run.path / COMMAND_FILE,
                                  cell_command("moana train", name, cell) + "\n")
            metrics = run.metrics("test")
            records.append({"backbone": backbone, "method": method, "config": name,
                            "epochs": config.optim.epochs,
                            "seconds": round(time.perf_counter() - start, 1),
                            "best_epoch": metrics.get("epoch"),
                            "checkpoint": metrics.get("checkpoint"),
                            "evaluation": evaluation_label(config.eval),
                            "top1_cls": metrics.get("top1_cls"),
                            "MaxBoxAccV2": metrics.get("MaxBoxAccV2"),
                            "PxAP": metrics.get("PxAP")})
    return pd.DataFrame(records)
