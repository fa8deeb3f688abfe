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
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Train WSOL models: CAM, the wsolevaluation methods and MoANA
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
methods: list = ["cam", "has", "adl", "moana"]  # cam | has | acol | spg | adl | cutmix | moana | se | cbam | eca | coord_attn
config_template: str = "smoke_{method}"  # shipped config name; {backbone} and {method} are filled in
epochs: int = None  # training epochs per run (None: the config's own)
overrides: list = []  # extra train-config overrides (see moana.train.config), applied last
reuse_runs: bool = False  # keep a finished run (final_metrics.json) instead of training it again

# %%
from moana.experiments.data import train_data_overrides
from moana.experiments.grid import train_grid
from moana.experiments.runs import histories
from moana.reproduce.profiles import load_data_info, work_layout
from moana.train.run import Run
from moana.viz.figures import curve_metrics, plot_training_curves, save_figure
from moana.viz.tables import save_table

layout = work_layout(work_dir)
info = load_data_info(work_dir)
synthetic = bool(info.get("synthetic"))

# %% [markdown]
# ## Train every (backbone, method)

# %%
runs = train_grid(layout.wsol_runs, backbones, methods, config_template=config_template, seed=seed,
                  device=device, data_overrides=train_data_overrides(info), overrides=overrides,
                  epochs=epochs, reuse_runs=reuse_runs)
save_table(runs, "wsol_training", output_dir, dataset=info["dataset"], synthetic=synthetic,
           caption="WSOL training runs: config, epochs, wall time, selected epoch and test metrics")
runs

# %% [markdown]
# ## Learning curves (per epoch, where computed)

# %%
history = histories({f"{b}-{m}": Run(layout.wsol_run(b, m)) for b in backbones for m in methods})
# a val metric computed only after the last epoch (the smoke configs' eval.every) gets no panel
wanted = curve_metrics(history, ["train_loss", "val_top1_cls", "val_MaxBoxAccV2", "val_PxAP"])
fig = plot_training_curves(history, metrics=wanted)
save_figure(fig, "training_curves", output_dir, dataset=info["dataset"], synthetic=synthetic, close=False,
            caption=f"Per epoch for each run: {', '.join(wanted)} (a val metric computed at "
                    "fewer than two epochs is not drawn)")
