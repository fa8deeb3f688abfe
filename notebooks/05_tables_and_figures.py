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
device: str = "cpu"  # cpu | cuda: where the CAM-methods tables compute their maps
center_sigma: float = 0.25  # std of the center baseline's Gaussian, as a fraction of the image side
curve_iou: int = 50  # IoU threshold of the box-accuracy-vs-threshold figure
cam_backbone: str = "small"  # the CAM-methods table scores the stage-01 runs <cam_backbone>-<method>
cam_runs: list = ["cam", "moana", "adl", "has"]  # ... of these methods
cam_methods: list = ["cam", "gradcam", "gradcam++", "layercam", "eigencam"]  # CAM sources scored on them
photo_model: str = "efficientnet_lite0"  # ImageNet classifier of the real-photo table ("": skip it)
photo_methods: list = ["cam", "gradcam", "gradcam++", "layercam"]  # CAM sources scored on the photos

# %%
import pandas as pd

from moana.reproduce.profiles import load_data_info, work_layout
from moana.experiments.prepared_data import load_split
from moana.experiments.cam_report import photo_cam_figure, photo_cam_table, runs_cam_table
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

# %% [markdown]
# ## One localization scale for CAM and post-hoc CAM methods
#
# The kit's CAM (each run's own inference map: CAM, or ADL's / HaS's network's CAM) beside the
# post-hoc methods of pytorch-grad-cam (Grad-CAM, Grad-CAM++, LayerCAM, EigenCAM) at the layer
# the classifier consumes, on the same stage-01 runs and the same test split, scored by the same
# evaluator: CAM threshold chosen on val and applied to test, the test-optimal threshold shown
# as "oracle", and the cost of the maps per image (`moana evaluate-cams`,
# docs/localize-anything.md).

# %%
cams = runs_cam_table([layout.wsol_runs / f"{cam_backbone}-{m}" for m in cam_runs], cam_methods,
                      work_dir=work_dir, device=device)
save_table(cams.table, "cam_methods", output_dir, dataset=info["dataset"], synthetic=synthetic,
           notes=cams.label, command=cams.command,
           caption="Localization of CAM and post-hoc CAM methods (Grad-CAM, Grad-CAM++, LayerCAM, "
                   f"EigenCAM) on the stage-01 {cam_backbone} runs: top-1 / GT-known loc at the "
                   "val-selected threshold, MaxBoxAccV2, PxAP, oracle threshold, ms per image")
cams.table

# %% [markdown]
# ## Real photographs with real ImageNet weights
#
# EfficientNet-Lite0 with its published ImageNet weights (no fine-tuning) on the kit's small
# real-photo set (photographs shipped inside scikit-image, scikit-learn and matplotlib, one box
# per photo annotated by this kit; `moana/data/photos.csv`). The map explains the top-1 class and
# the box is judged whatever that class is; the set has no val split, so only the oracle
# threshold is shown. Score-CAM (1280 forward passes per image here) is left out of the smoke
# profile for time; `moana evaluate-cams --photos --methods scorecam` scores it.

# %%
if photo_model:
    photos = photo_cam_table(photo_model, photo_methods, device=device)
    save_table(photos.table, "cam_methods_photos", output_dir, dataset=photos.label,
               synthetic=False, command=photos.command,
               caption=f"Real photographs: CAM vs post-hoc CAM methods of {photo_model} (ImageNet "
                       "weights, no fine-tuning), MaxBoxAcc at IoU 30/50/70 and MaxBoxAccV2")
    fig = photo_cam_figure(photos, photo_model)
    save_figure(fig, "photo_cams", output_dir, dataset=photos.label, synthetic=False, close=False,
                caption=f"Score maps of each method ({photo_model}, top-1 class) on the real "
                        "photographs, annotated box in red")
    from IPython.display import display

    display(photos.table)
else:
    print("photo_model is empty: no real-photo table")
