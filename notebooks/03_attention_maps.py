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
# # 03 · Attention maps and the explorer
#
# MoANA (Sohn et al., *Sci. Rep.* 2023) computes three axis attentions — channel `c` (C×1×1),
# height `h` (C×H×1) and width `w` (C×1×W) — expands them into a full C×H×W map and calibrates the
# features with it, so less discriminative object parts are activated too. This notebook loads the
# runs of stage 01, draws the paper's qualitative figure (image, CAM, MoANA map, ground-truth and
# predicted boxes) and the three attentions for chosen test images, and opens an interactive
# explorer. Every map is the one the evaluator scores: the map of the image's true class (for
# ACoL, erased at that class). The explorer's current view and a few saved views also appear as
# pictures, so the executed copy shows them without a running kernel.

# %% tags=["parameters"]
profile: str = "smoke"  # smoke | paper: the preset the runner took these values from
work_dir: str = "../work"  # intermediate artefacts (datasets, runs, checkpoints), outside results/
output_dir: str = "../work/interactive"  # tables/ and figures/ go here (moana reproduce: a staging dir)
seed: int = 0  # seed of the image choice
device: str = "cpu"  # cpu | cuda
backbone: str = "small"  # which stage-01 runs to show (<backbone>-cam, <backbone>-moana)
methods: list = ["cam", "moana"]  # methods to compare (their runs must exist)
num_images: int = 16  # test images in the explorer (the grid shows the first 4)
threshold: float = -1.0  # CAM threshold for the predicted boxes (<0: each run's val-selected one)
checkpoint: str = "best"  # best | last
demo: bool = False  # true: first open the explorer on real photographs (EfficientNet-Lite0, ImageNet weights)

# %% [markdown]
# ## First look: real photographs (`demo: true`)
#
# With `demo` set, the explorer first opens on the kit's real photographs (shipped inside
# scikit-image, scikit-learn and matplotlib, one box per photo annotated by this kit) with
# EfficientNet-Lite0 and its published ImageNet weights, no fine-tuning; its methods are the
# kit's CAM and Grad-CAM, each map explaining the network's top-1 class (named in the class
# menu). Needs the `demo` extra, not stages 00 and 01; the sections after it need those.

# %%
if demo:
    from IPython.display import display

    from moana.experiments.photo_explorer import photo_explorer

    display(photo_explorer())

# %%
import numpy as np

from moana.experiments.prepared_data import class_names, wsol_dataset
from moana.experiments.moana_steps import moana_steps
from moana.experiments.runs import load_method_runs
from moana.reproduce.profiles import load_data_info, work_layout
from moana.viz.explorer import (ATTENTION_LABELS, Explorer, collect_explorer_data, predicted_boxes,
                                render_view, scoremap)
from moana.viz.figures import plot_axis_attentions, plot_qualitative_grid, save_figure

layout = work_layout(work_dir)
info = load_data_info(work_dir)
synthetic = bool(info.get("synthetic"))

# %% [markdown]
# ## Load the trained models and run them once over a few test images

# %%
loaded = load_method_runs(layout.wsol_runs, backbone, methods, checkpoint=checkpoint, threshold=threshold)
models = {m: r.model for m, r in loaded.items()}
thresholds = {m: r.threshold for m, r in loaded.items()}
test = wsol_dataset(info, "test", image_size=loaded[methods[-1]].config.data.image_size)
rng = np.random.default_rng(seed)
indices = sorted(rng.choice(len(test), size=min(num_images, len(test)), replace=False).tolist())
names = class_names(info, loaded[methods[-1]].model.num_classes)
data = collect_explorer_data(models, test, indices, class_names=names, device=device)
thresholds

# %% [markdown]
# ## Qualitative comparison: CAM vs MoANA (red: ground truth, green: predicted at the val threshold)
#
# Each map is for the image's true class (named above the image), as the evaluator scores it.

# %%
size = data.images[0].shape[:2]
grid = range(min(4, len(indices)))
maps = {m: [scoremap(data.class_maps[m][i, data.labels[i]], size) for i in grid] for m in methods}
boxes = {m: [predicted_boxes(s, thresholds[m]) for s in maps[m]] for m in methods}
fig = plot_qualitative_grid([data.images[i] for i in grid], maps, [data.gt_boxes[i] for i in grid],
                            boxes, titles=[f"map for: {data.class_name(data.labels[i])}" for i in grid])
save_figure(fig, "qualitative_cam_vs_moana", output_dir, dataset=info["dataset"], synthetic=synthetic,
            close=False, caption="Test images: CAM and MoANA score maps of each image's true class (the maps "
                                 "the evaluator scores) with ground-truth (red) and predicted "
                                 "boxes (green) at each run's val-selected threshold")

# %% [markdown]
# ## The three axis attentions and the expanded map

# %%
attention_methods = [m for m in methods if m in data.attentions]
for m in attention_methods:
    for j in range(min(2, len(indices))):
        fig = plot_axis_attentions(data.images[j], data.attentions[m][j], title=data.image_ids[j].split("/")[-1])
        save_figure(fig, f"attention_axes_{m}_{j}", output_dir, dataset=info["dataset"], synthetic=synthetic,
                    caption=f"{m} attentions for test image {j}: channel (sorted), height, width, "
                            "and the expanded C×H×W map averaged over channels")
print("methods with attention modules:", attention_methods or "none")

# %% [markdown]
# ## MoANA step by step, on a real feature map
#
# What the module computes for test image 0 (the trained MoANA network of stage 01, the formula
# block of `moana/nn/moana.py`): each axis descriptor is a pooled feature vector passed through a
# 1-D convolution, BatchNorm and a sigmoid; their broadcast sum is the expanded map M in [0, 3];
# the calibration scales the features by a + b·M. The line printed above the table rebuilds the
# output from these steps and compares it with the module's own.

# %%
if "moana" in models:
    steps = moana_steps(models["moana"], test[indices[0]][0])
    print(f"rebuilt output vs the module's: max |difference| = {steps.attrs['max_abs_diff_to_module']:.1e}")
    display(steps.round(4))

# %% [markdown]
# ## Explorer
#
# Slide through the images, switch the method, the class whose map is shown (default: the true
# class, the map the evaluator scores), the CAM threshold, the overlay's opacity and the right
# panel (the raw image or one of MoANA's attentions). Red: ground truth; green: the box at the
# chosen threshold; white: the region above it. The colour bars say what the colours mean.
# (Open it live: JupyterLab from the project's `.venv`, after stages 00 and 01 have run.)

# %%
explorer = Explorer(data, thresholds=thresholds)  # starts on MoANA; each method keeps its val threshold
explorer

# %% [markdown]
# Static copies of a few explorer views (saved under `figures/`).

# %%
for view, (method, att) in enumerate([(methods[0], "none"), (methods[-1], "map"), (methods[-1], "c")]):
    fig = render_view(data, image=0, method=method, threshold=thresholds[method], attention=att)
    save_figure(fig, f"explorer_view_{view}", output_dir, dataset=info["dataset"], synthetic=synthetic,
                close=False, caption=f"Explorer view: {method} score map of the true class of image 0 and boxes; "
                        f"right panel: {ATTENTION_LABELS[att]}")
