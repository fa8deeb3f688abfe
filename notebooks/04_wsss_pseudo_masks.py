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
# # 04 · WSSS: CAMs and pseudo-masks on PASCAL VOC
#
# MoANA's segmentation experiments (Sohn et al., *Sci. Rep.* 2023) follow IRN (Ahn, Cho & Kwak,
# CVPR 2019): train a multi-label CAM network (with or without MoANA), make multi-scale CAMs,
# evaluate them (mIoU vs background threshold), derive inter-pixel relation labels, train IRN's
# boundary branch and propagate the CAMs by random walk into pseudo-masks. `moana.wsss.run_pipeline`
# runs every step (restartable); this notebook points it at the data of stage 00 and tabulates.

# %% tags=["parameters"]
profile: str = "smoke"  # smoke | paper: the preset the runner took these values from
work_dir: str = "../work"  # intermediate artefacts (datasets, runs, checkpoints), outside results/
output_dir: str = "../work/interactive"  # tables/ and figures/ go here (moana reproduce: a staging dir)
seed: int = 0  # pipeline seed
device: str = "cpu"  # cpu | cuda | auto
wsss_config: str = "smoke"  # shipped WSSS config (moana/wsss/configs: smoke | paper) or a YAML path
methods: list = ["cam", "moana"]  # CAM networks to compare
overrides: list = []  # extra WSSS config overrides (see moana.wsss.config), applied last
num_examples: int = 4  # images in the pseudo-mask grid
force: bool = False  # redo every step even when its outputs are up to date

# %%
import json

import numpy as np

from moana.profiles import load_data_info, work_layout
from moana.viz import collect
from moana.viz.figures import plot_mask_grid, plot_metric_bars, save_figure
from moana.viz.tables import save_table
from moana.wsss import load_wsss_config, run_pipeline
from moana.wsss.pipeline import prepare_data

layout = work_layout(work_dir)
info = load_data_info(work_dir)
synthetic = bool(info.get("synthetic"))
if not info.get("voc_root"):
    raise FileNotFoundError(f"{layout.data_info} has no voc_root: stage 00 found no VOC data "
                            "(set voc_root in 00_data_prep)")
dataset = "synthetic VOC" if synthetic else "VOC2012"

# %% [markdown]
# ## Run the pipeline (steps whose outputs are up to date are skipped)

# %%
cfg = load_wsss_config(wsss_config, [
    f"work_dir={layout.wsss}", f"seed={seed}", f"device={device}", f"methods={json.dumps(methods)}",
    "data.synthetic=null", f"data.voc_root={info['voc_root']}", *overrides])
summary = run_pipeline(cfg, force=force, echo=print)
summary

# %% [markdown]
# ## mIoU of CAMs and pseudo-masks

# %%
table = summary.copy()
for col in ("cam_miou_best", "cam_miou_at_default", "pseudo_mask_miou"):
    table[col] = 100.0 * table[col]
table["reported pseudo_mask_miou"] = np.nan  # MoANA, Sci. Rep. 2023: not retrieved (see results/README)
save_table(table, "wsss_miou", output_dir, dataset=dataset, synthetic=synthetic,
           caption="WSSS: CAM mIoU (best and default background threshold) and pseudo-mask mIoU (%), CAM vs MoANA")
table

# %%
per_class = collect.wsss_per_class(cfg, methods)
wide = per_class.pivot_table(index="class", columns=["stage", "method"], values="iou", sort=False)
wide.columns = [f"{stage} {method}" for stage, method in wide.columns]
save_table(wide.reset_index(), "wsss_per_class_iou", output_dir, dataset=dataset, synthetic=synthetic,
           caption="WSSS: per-class IoU (%) of CAMs (best threshold) and pseudo-masks, CAM vs MoANA")
masks_only = per_class[per_class["stage"] == "pseudo mask"]
fig = plot_metric_bars(masks_only if len(masks_only) else per_class, x="class", y="iou", hue="method",
                       title="per-class IoU of the pseudo-masks")
save_figure(fig, "wsss_per_class_iou", output_dir, dataset=dataset, synthetic=synthetic, close=False,
            caption="WSSS: per-class IoU (%) of the pseudo-masks, CAM vs MoANA")

# %% [markdown]
# ## Pseudo-masks

# %%
data = prepare_data(cfg)
step = max(1, len(data.eval_ids) // num_examples)
ids = data.eval_ids[::step][:num_examples]
images, masks = collect.wsss_examples(cfg, methods, ids)
fig = plot_mask_grid(images, masks, titles=ids)
save_figure(fig, "wsss_pseudo_masks", output_dir, dataset=dataset, synthetic=synthetic, close=False,
            caption="WSSS: image, ground truth, CAM labels (best threshold) and IRN pseudo-masks per method")
