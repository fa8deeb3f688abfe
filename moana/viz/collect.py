"""Compatibility shim: the run and data glue moved out of ``viz``.

Data of a work directory: :mod:`moana.experiments.data`; trained runs: :class:`moana.train.run.Run`
and :mod:`moana.experiments.runs`; WSSS results: :mod:`moana.experiments.wsss`. New code imports
those; this module keeps the old names working (notebook 04 still uses it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moana.experiments.data import (SPLITS, dataset_summary, load_split, real_info,  # noqa: F401
                                    synthetic_info, train_data_overrides, voc_summary,
                                    wsol_dataset)
from moana.experiments.runs import box_curves  # noqa: F401
from moana.experiments.wsss import wsss_examples, wsss_per_class  # noqa: F401
from moana.train.run import Run


def run_metrics(run_dir: str | Path, split: str = "test") -> dict[str, Any]:
    """Metrics of a run on ``split``: ``eval_<split>.json`` if present, else the final metrics
    (:meth:`moana.train.run.Run.metrics`)."""
    return Run(run_dir).metrics(split)


def run_history(run_dir: str | Path):
    """The run's ``metrics.csv`` as a pandas DataFrame (one row per epoch; empty when absent)."""
    return Run(run_dir).history()


def find_runs(runs_root: str | Path) -> list[tuple[str, str, Path]]:
    """``(benchmark, method, run directory)`` of every run under ``runs_root``."""
    from moana.train.run import find_runs as _find

    return [(b, m, run.path) for b, m, run in _find(runs_root)]


def run_config(run_dir: str | Path) -> dict[str, Any]:
    """The run's resolved config as a plain dict."""
    return Run(run_dir).config_dict()


def cam_step(run_dir: str | Path, default: float = 0.001) -> float:
    """The CAM threshold step the run was evaluated with (``default`` when not recorded)."""
    from moana.experiments.runs import cam_step as _cam_step

    return _cam_step(Run(run_dir), default)


def load_run_model(run_dir: str | Path, which: str = "best") -> tuple[Any, Any]:
    """``(model, config)`` of a run with the weights of checkpoint ``which`` (``best`` or
    ``last``), in eval mode on the CPU.  Errors of the checkpoint loader name the file."""
    run = Run(run_dir)
    return run.load_model(which), run.config
