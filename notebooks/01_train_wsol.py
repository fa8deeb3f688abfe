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
#
# Then wsolevaluation's protocol proper: for each of `search_methods` a hyperparameter search
# (`moana.search`: random trials trained on train, scored on val = train-fullsup only, the test
# split never opened), and the best configuration trained once and reported on test into
# `<work_dir>/runs/wsol_searched/`. Stage 05 shows both, each row saying where its
# hyperparameters came from.

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
search_methods: list = ["cam", "moana"]  # methods searched on val before a searched run (empty: no search)
search_trials: int = 4  # finished trials per searched (backbone, method); the protocol's budget is 30
search_sampler: str = "random"  # random (the protocol's random search) | tpe
search_epochs: int = 3  # training epochs of every trial and of the searched run (None: the config's own)
search_overrides: list = []  # overrides of every trial and of the searched run, after `overrides`

# %%
from moana.experiments.prepared_data import train_data_overrides
from moana.experiments.grid import train_grid
from moana.experiments.runs import histories
from moana.experiments.search_grid import commands_of, labelled_runs, search_grid
from moana.search.study import load_search
from moana.reproduce.profiles import load_data_info, work_layout
from moana.train.run import Run
from moana.viz.figures import curve_metrics, plot_training_curves, save_figure
from moana.viz.search import plot_search_history, plot_search_importances
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
           command=commands_of(labelled_runs(layout.wsol_runs)),
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

# %% [markdown]
# ## Hyperparameter search on train-fullsup, then one run on test
#
# Each trial trains on train and is scored on val (train-fullsup) at its last checkpoint; the
# best trial's config is trained again and evaluated on test once. The smoke profile's search is
# tiny (a few trials of a few epochs, shorter than the default runs above), so it exercises the
# path rather than tuning anything.

# %%
searched = search_grid(layout.wsol_search, layout.wsol_searched_runs, backbones, search_methods,
                       config_template=config_template, trials=search_trials,
                       sampler=search_sampler, seed=seed, device=device,
                       data_overrides=train_data_overrides(info),
                       overrides=[*overrides, *search_overrides],
                       epochs=search_epochs, reuse_runs=reuse_runs)
if len(searched):
    save_table(searched, "wsol_search", output_dir, dataset=info["dataset"], synthetic=synthetic,
               command=commands_of(labelled_runs(layout.wsol_searched_runs)),
               caption=f"Hyperparameter search per (backbone, method): {search_sampler} sampling, "
                       "trials scored on val (train-fullsup), best trial's values and val score, "
                       "seconds per trial, and the best config's test numbers (trained once)")
searched

# %% [markdown]
# ## Search history and parameter importances (Optuna's plots)

# %%
for backbone in backbones:
    for method in search_methods:
        cell = f"{backbone}-{method}"
        study = load_search(layout.wsol_search / cell)
        fig = plot_search_history(study, f"{cell}: val score per trial")
        save_figure(fig, f"search_history_{cell}", output_dir, dataset=info["dataset"],
                    synthetic=synthetic, close=False,
                    caption=f"{cell}: the objective (val, train-fullsup) of each trial and the best so far")
        fig = plot_search_importances(study, f"{cell}: parameter importances")
        save_figure(fig, f"search_importances_{cell}", output_dir, dataset=info["dataset"],
                    synthetic=synthetic, close=False,
                    caption=f"{cell}: importance of each searched parameter for the val score "
                            f"(Optuna's fANOVA, over {search_trials} trials)")
