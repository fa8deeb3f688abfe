"""Training and evaluation of WSOL models (MoANA, Sohn et al., Sci. Rep. 2023; protocol of
wsolevaluation, Choe et al., CVPR 2020): configs, resumable runs, torchrun data parallelism.

    from moana.train import fit, load_config
    metrics = fit(load_config("smoke_moana", ["optim.epochs=3"]), run_dir="runs/smoke_moana")

Modules: ``config`` (TrainConfig), ``prepare`` (a WSOL run's data, model and evaluation
settings), ``step`` (``WSOLStep``: the WSOL per-batch step), ``training`` (``fit``: WSOL
training), ``evaluate`` (localization metrics of a model or a run), ``run`` (the run directory:
``Run``), ``records``, ``recipe``. The generic epoch loop, checkpoints, distributed helpers and
the run-time context are in :mod:`moana.engine`.
"""

from moana._lazy import lazy_exports

# Lazy (PEP 562): ``moana train --help`` imports moana.train.commands without torch/pandas.
_EXPORTS = {
    "Run": "moana.train.run",
    "TrainConfig": "moana.train.config",
    "available_configs": "moana.train.config",
    "evaluate_checkpoint": "moana.train.evaluate",
    "evaluate_run": "moana.train.evaluate",
    "fit": "moana.train.training",
    "load_config": "moana.train.config",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["Run", "TrainConfig", "available_configs", "evaluate_checkpoint", "evaluate_run", "fit",
           "load_config"]
