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
# # 05 · Tables and figures: the WSOL comparison
#
# The paper's main comparison (Sohn et al., *Sci. Rep.* 2023): CAM vs MoANA per backbone with
# top-1 classification, top-1 and GT-known localization, MaxBoxAccV2 and its IoU 30/50/70 parts
# (Choe et al., CVPR 2020), and PxAP where masks exist. The center baseline — the same centered
# Gaussian score map for every image, scored by the same evaluator — is the floor. Box accuracy as
# a function of the CAM threshold shows how sensitive each method is to the threshold choice.
# Inputs: the runs of stage 01 (`<work_dir>/runs/wsol/`, default hyperparameters, and
# `<work_dir>/runs/wsol_searched/`, the best config of each search). Each row says where its
# hyperparameters came from, how many seeds it averages, the published number and how far ours
# is from it.

# %% tags=["parameters"]
profile: str = "smoke"  # smoke | paper: the preset the runner took these values from
work_dir: str = "../work"  # intermediate artefacts (datasets, runs, checkpoints), outside results/
output_dir: str = "../work/interactive"  # tables/ and figures/ go here (moana reproduce: a staging dir)
seed: int = 0  # unused here
device: str = "cpu"  # unused here
center_sigma: float = 0.25  # std of the center baseline's Gaussian, as a fraction of the image side
curve_iou: int = 50  # IoU threshold of the box-accuracy-vs-threshold figure

# %%
import pandas as pd

from moana.reproduce.profiles import load_data_info, work_layout
from moana.experiments.prepared_data import load_split
from moana.experiments.runs import box_curves, cam_step
from moana.experiments.search_grid import commands_of, labelled_runs
from moana.metrics.baselines import evaluate_center_baseline
from moana.viz.figures import plot_box_accuracy_curves, save_figure
from moana.viz.tables import (PROTOCOL_NOTE, REPORTED_NOTE, VERDICT_RULE, save_table,
                              wsol_comparison_table, wsol_row)

layout = work_layout(work_dir)
info = load_data_info(work_dir)
synthetic = bool(info.get("synthetic"))
runs = labelled_runs(layout.wsol_runs, layout.wsol_searched_runs)

# %% [markdown]
# ## WSOL comparison (test split, thresholds chosen on val)

# %%
rows, curves = [], []
for backbone, method, run, hparams in runs:
    metrics = run.metrics("test")
    rows.append(wsol_row(backbone, method, metrics, hparams=hparams))
    if metrics.get("box_curves") and hparams == "default":
        curve = box_curves(metrics, step=cam_step(run))
        curves.append(curve.assign(backbone=backbone, method=method))
test_meta = load_split(info, "test")
sizes = {backbone: int(run.config_dict()["data"]["image_size"]) for backbone, _, run, _ in runs}
for backbone, size in sizes.items():
    center = evaluate_center_baseline(test_meta, image_size=size, sigma=center_sigma,
                                      mask_root=info.get("mask_root"))
    rows.append(wsol_row(backbone, "center baseline", center, hparams="none"))
table = wsol_comparison_table(rows, dataset=info["dataset"])
save_table(table, "wsol_comparison", output_dir, dataset=info["dataset"], synthetic=synthetic,
           notes=f"{REPORTED_NOTE} {PROTOCOL_NOTE} {VERDICT_RULE}.", command=commands_of(runs),
           caption="WSOL: CAM vs MoANA per backbone (top-1 cls/loc, GT-known loc, MaxBoxAccV2 with IoU 30/50/70, "
                   "PxAP) with the center-Gaussian baseline as a floor; default and searched hyperparameters, "
                   "mean over seeds, distance to the reported number")
table

# %% [markdown]
# ## Box accuracy vs CAM threshold

# %%
if curves:
    long = pd.concat(curves, ignore_index=True)
    fig = plot_box_accuracy_curves(long, iou=curve_iou)
    save_figure(fig, "box_accuracy_vs_threshold", output_dir, dataset=info["dataset"], synthetic=synthetic,
                close=False, caption=f"Test box accuracy (IoU ≥ {curve_iou / 100:.1f}) as a function of the "
                                     "CAM threshold, one curve per method and a panel per backbone")
else:
    print("the runs hold no box curves: nothing to plot")
