# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Train WSOL models: CAM vs MoANA
#
# For each backbone, train vanilla CAM (Zhou et al., CVPR 2016) and the same network with MoANA
# inserted before the classifier (Sohn et al., *Sci. Rep.* 2023), select the checkpoint on the val
# split and report on test, following wsolevaluation (Choe et al., CVPR 2020). Training is
# `moana.train.fit` on a shipped config (`moana/train/configs/`), pointed at the data of stage 00.
# Runs land in `<work_dir>/runs/wsol/<backbone>-<method>/`; stage 05 builds the comparison table.

# %% tags=["parameters"]
profile: str = "smoke"  # smoke | paper: the preset the runner took these values from
work_dir: str = "../work"  # intermediate artefacts (datasets, runs, checkpoints), outside results/
output_dir: str = "../work/interactive"  # tables/ and figures/ go here (moana reproduce: a staging dir)
seed: int = 0  # training seed (runtime.seed)
device: str = "cpu"  # cpu | cuda | auto
backbones: list = ["small"]  # architectures: small | resnet18 | resnet50 | vgg16 | inception_v3
methods: list = ["cam", "moana"]  # cam | moana (or any attention: se, cbam, eca, coord_attn, adl)
config_template: str = "smoke_{method}"  # shipped config name; {backbone} and {method} are filled in
epochs: int = None  # training epochs per run (None: the config's own)
overrides: list = []  # extra train-config overrides (see moana.train.config), applied last
reuse_runs: bool = False  # keep a finished run (final_metrics.json) instead of training it again

# %%
import shutil
import time

import pandas as pd

from moana.profiles import load_data_info, work_layout
from moana.train import fit, load_config
from moana.viz import collect
from moana.viz.figures import plot_training_curves, save_figure
from moana.viz.tables import save_table

layout = work_layout(work_dir)
info = load_data_info(work_dir)
synthetic = bool(info.get("synthetic"))

# %% [markdown]
# ## Train every (backbone, method)

# %%
records = []
for backbone in backbones:
    for method in methods:
        run_dir = layout.wsol_run(backbone, method)
        name = config_template.format(backbone=backbone, method=method)
        run_overrides = [f"model.arch={backbone}", f"model.method={method}", f"runtime.seed={seed}",
                         f"runtime.device={device}", f"name={backbone}-{method}",
                         *collect.train_data_overrides(info), *overrides]
        if epochs is not None:
            run_overrides.append(f"optim.epochs={int(epochs)}")
        config = load_config(name, run_overrides)
        start = time.perf_counter()
        if reuse_runs and (run_dir / "final_metrics.json").is_file():
            print(f"{backbone}-{method}: reusing {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
            fit(config, run_dir=run_dir, quiet=True)
        metrics = collect.run_metrics(run_dir, "test")
        records.append({"backbone": backbone, "method": method, "config": name,
                        "epochs": config.optim.epochs, "seconds": round(time.perf_counter() - start, 1),
                        "best_epoch": metrics.get("epoch"), "top1_cls": metrics.get("top1_cls"),
                        "MaxBoxAccV2": metrics.get("MaxBoxAccV2"), "PxAP": metrics.get("PxAP")})
runs = pd.DataFrame(records)
save_table(runs, "wsol_training", output_dir, dataset=info["dataset"], synthetic=synthetic,
           caption="WSOL training runs: config, epochs, wall time, selected epoch and test metrics")
runs

# %% [markdown]
# ## Learning curves (val metrics per epoch)

# %%
history = pd.concat(
    [collect.run_history(layout.wsol_run(b, m)).assign(run=f"{b}-{m}") for b in backbones for m in methods],
    ignore_index=True)
wanted = [c for c in ("train_loss", "val_top1_cls", "val_MaxBoxAccV2", "val_PxAP") if c in history]
fig = plot_training_curves(history, metrics=wanted)
save_figure(fig, "training_curves", output_dir, dataset=info["dataset"], synthetic=synthetic, close=False,
            caption="Training loss and val top-1 / MaxBoxAccV2 / PxAP per epoch for each run")
