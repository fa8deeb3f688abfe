"""Trained WSOL runs of a work directory: loading each method's model with its CAM threshold,
test metrics, learning curves and box-accuracy curves (wsolevaluation protocol, Choe et al.
CVPR 2020: thresholds are chosen on val, test is reported once)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moana.train.run import Run


@dataclass
class MethodRun:
    """A method's run loaded for inspection: its model (eval mode), resolved config and the CAM
    threshold used for its predicted boxes."""

    method: str
    run: Run
    model: Any
    config: Any
    threshold: float


def run_threshold(run: Run, override: float | None = None, default: float = 0.5) -> float:
    """The CAM threshold of a run's predicted boxes: ``override`` when given (>= 0), else the
    one chosen on val (``box_threshold`` of its test metrics), else ``default``."""
    if override is not None and override >= 0:
        return float(override)
    return float(run.metrics("test").get("box_threshold", default))


def load_method_runs(runs_root: str | Path, backbone: str, methods: Sequence[str], *,
                     checkpoint: str = "best", threshold: float | None = None,
                     device: str = "cpu") -> dict[str, MethodRun]:
    """``<runs_root>/<backbone>-<method>`` of each method, loaded with its threshold
    (:func:`run_threshold`). Raises FileNotFoundError naming a missing run."""
    out = {}
    for method in methods:
        run = Run(Path(runs_root) / f"{backbone}-{method}")
        model = run.load_model(checkpoint, device=device)
        out[method] = MethodRun(method, run, model, run.config,
                                run_threshold(run, threshold))
    return out


def histories(runs: Mapping[str, Run]) -> pd.DataFrame:
    """Per-epoch rows of several runs, with a ``run`` column naming each."""
    frames = [run.history().assign(run=name) for name, run in runs.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def cam_step(run: Run, default: float = 0.001) -> float:
    """``eval.cam_step`` of a run's resolved config."""
    return float((run.config_dict().get("eval") or {}).get("cam_step", default))


def box_curves(metrics: Mapping[str, Any], *, step: float | None = None) -> pd.DataFrame:
    """Long table (threshold, iou, box_acc) from a metrics dict's box curves."""
    curves = metrics.get("box_curves") or metrics.get("curves")
    if not curves:
        raise ValueError("metrics hold no box curves ('box_curves')")
    thresholds = metrics.get("thresholds")
    rows = []
    for iou, values in curves.items():
        values = np.asarray(values, dtype=float)
        grid = (np.asarray(thresholds, dtype=float) if thresholds is not None
                else np.arange(len(values)) * (step if step else 1.0 / len(values)))
        rows.append(pd.DataFrame({"threshold": grid, "iou": int(iou), "box_acc": values}))
    return pd.concat(rows, ignore_index=True)
