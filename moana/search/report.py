"""What a finished search leaves in its directory: the best config, every trial, a summary.

* ``best.yaml`` — the best trial's resolved config (a normal config file; ``moana train
  --config best.yaml`` trains it again and reports on test, once), named ``<config>_searched``;
* ``trials.csv`` — one row per trial: number, state, value, drawn values, wall time;
* ``search.json`` — study, storage (password hidden), space, sampler, budget, best trial.

All written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from moana.io import atomic_write_text
from moana.search.space import SearchSpace
from moana.train.config import TrainConfig, load_config
from moana.train.records import write_metrics_csv

__all__ = ["trial_rows", "write_report"]


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One dict per trial (surplus trials, which never ran, left out)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("surplus"):
            continue
        row = {"trial": t.number, "state": t.state.name, "value": t.value,
               "wall_s": t.user_attrs.get("wall_s"), "retry_of": t.user_attrs.get("retry_of", t.system_attrs.get("failed_trial")),
               "worker": t.user_attrs.get("worker"),
               "diverged": bool(t.user_attrs.get("diverged"))}
        row.update({f"param {k}": v for k, v in t.params.items()})
        rows.append(row)
    return rows


def _best_config(best: optuna.trial.FrozenTrial, base: TrainConfig, study: optuna.Study,
                 metric: str) -> str:
    config = load_config(Path(best.user_attrs["run_dir"]) / "config.yaml")
    config.name = f"{base.name}_searched"
    config.description = (f"{base.description} -- searched: study {study.study_name}, trial "
                          f"{best.number}, val {metric} {best.value:.2f}")
    header = (f"# The best trial of the hyperparameter search of {base.name} (study "
              f"{study.study_name!r}, trial {best.number}, val {metric} = {best.value:.4f}).\n"
              f"# Drawn: {' '.join(best.user_attrs.get('overrides', []))}\n"
              f"# Train it once and report on test: moana train --config <this file>\n")
    return header + config.to_yaml()


def write_report(study: optuna.Study, search_dir: Path, base: TrainConfig, space: SearchSpace,
                 settings: Any, storage: str) -> dict[str, Any]:
    """Write ``best.yaml``, ``trials.csv`` and ``search.json`` in ``search_dir``; returns the
    summary (``search.json``'s content)."""
    search_dir = Path(search_dir)
    metric = study.user_attrs["metric_key"]
    rows = trial_rows(study)
    finished = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    best = max(finished, key=lambda t: (t.value, -t.number)) if finished else None
    walls = [r["wall_s"] for r in rows if r["state"] == "COMPLETE" and r["wall_s"] is not None]
    summary = {
        "config": base.name, "study": study.study_name, "storage": storage,
        "space": space.name, "space_file": space.path.name, "sampler": settings.sampler,
        "pruner": settings.pruner, "seed": settings.seed, "budget": settings.trials,
        "objective": f"val {metric} (train-fullsup; {base.eval.checkpoint} checkpoint)",
        "trials_complete": len(finished),
        "trials_pruned": sum(r["state"] == "PRUNED" for r in rows),
        "trials_failed": sum(r["state"] == "FAIL" for r in rows),
        "mean_wall_s_per_trial": round(sum(walls) / len(walls), 2) if walls else None,
        "best_trial": best.number if best else None,
        "best_value": best.value if best else None,
        "best_params": dict(best.params) if best else None,
        "best_config": "best.yaml" if best else None,
    }
    write_metrics_csv(search_dir / "trials.csv", rows)
    if best is not None:
        atomic_write_text(search_dir / "best.yaml", _best_config(best, base, study, metric))
    atomic_write_text(search_dir / "search.json", json.dumps(summary, indent=2) + "\n")
    return summary
