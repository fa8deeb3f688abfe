"""Training and evaluation of WSOL models (MoANA, Sohn et al., Sci. Rep. 2023; protocol of
wsolevaluation, Choe et al., CVPR 2020): configs, resumable runs, torchrun data parallelism.

    from moana.train import fit, load_config
    metrics = fit(load_config("smoke_moana", ["optim.epochs=3"]), run_dir="runs/smoke_moana")
"""

from moana.train.config import TrainConfig, available_configs, load_config
from moana.train.evaluate import evaluate_checkpoint, evaluate_run
from moana.train.fit import fit  # the function shadows the submodule name on purpose

__all__ = ["TrainConfig", "available_configs", "evaluate_checkpoint", "evaluate_run", "fit",
           "load_config"]
