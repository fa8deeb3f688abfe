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
# # 00 · Data preparation
#
# MoANA (Sohn et al., *Scientific Reports* 2023) is evaluated for weakly supervised object
# localization (WSOL) on CUB-200-2011 in the wsolevaluation layout (Choe et al., CVPR 2020) and for
# weakly supervised semantic segmentation (WSSS) on PASCAL VOC 2012.
#
# * **smoke** profile: generate the synthetic benchmark (`moana.data.synthetic`): objects with a
#   class-specific mark on cluttered backgrounds, with boxes and masks, plus a VOC-like tree.
# * **paper** profile: check that the real datasets are where the parameters say.
#
# Later stages read `<work_dir>/data.json`, written at the end of this notebook.

# %% tags=["parameters"]
profile: str = "smoke"  # smoke | paper: the preset the runner took these values from
work_dir: str = "../work"  # intermediate artefacts (datasets, runs, checkpoints), outside results/
output_dir: str = "../work/interactive"  # tables/ and figures/ go here (moana reproduce: a staging dir)
seed: int = 0  # seed of the synthetic generators
device: str = "cpu"  # unused here; shared by all stages
dataset: str = "synthetic"  # synthetic | CUB | ILSVRC | OpenImages
data_root: str = "../data"  # real data: folder holding <DATASET>/ images
metadata_root: str = "../data/metadata"  # real data: wsolevaluation metadata root (<DATASET>/<split>/)
voc_root: str = ""  # real data: VOC2012 root (JPEGImages, SegmentationClass, ...); empty: no WSSS data
num_classes: int = None  # synthetic: number of classes (None: the smoke_cam config's data.synthetic)
image_size: int = None  # synthetic: image side in pixels (None: the smoke_cam config's)
per_class: dict = None  # synthetic: images per class per split (None: the smoke_cam config's)
voc_synthetic: dict = None  # synthetic VOC: knobs of moana.data.synthetic.make_voc_dataset (None: the WSSS smoke config's data.synthetic)
num_samples: int = 8  # images shown in the sample figure

# %%
from moana.reproduce.profiles import save_data_info, work_layout
from moana.experiments import prepared_data as work_data
from moana.viz.figures import denormalize, plot_samples, save_figure
from moana.viz.tables import save_table

layout = work_layout(work_dir)
synthetic = dataset == "synthetic"

# %% [markdown]
# ## Make or find the data

# %%
if synthetic:
    from moana.data.synthetic import make_voc_dataset, make_wsol_dataset

    from moana.train import load_config

    smoke = load_config("smoke_cam").data.synthetic  # the smoke dataset's size is written there only
    wsol = make_wsol_dataset(layout.data / "synthetic_wsol", seed=seed,
                             num_classes=num_classes or smoke["num_classes"],
                             image_size=image_size or smoke["image_size"],
                             per_class=per_class or smoke["per_class"])
    from moana.wsss import load_wsss_config

    voc_knobs = voc_synthetic if voc_synthetic is not None else load_wsss_config("smoke").data.synthetic
    voc = make_voc_dataset(layout.data / "synthetic_voc", seed=seed, **voc_knobs)
    info = work_data.synthetic_info(wsol, voc)
else:
    info = work_data.real_info(dataset, data_root, metadata_root or None, voc_root or None)
info["seed"] = seed
save_data_info(work_dir, info)
info

# %% [markdown]
# ## What is in it

# %%
summary = work_data.dataset_summary(info)
save_table(summary, "dataset_summary", output_dir, dataset=info["dataset"], synthetic=synthetic,
           caption="WSOL data: images, classes, boxes per image and masks per split")
summary

# %%
if info.get("voc_root"):
    voc_table = work_data.voc_summary(info["voc_root"])
    save_table(voc_table, "voc_summary", output_dir, dataset="VOC2012" if not synthetic else "synthetic VOC",
               synthetic=synthetic, caption="WSSS data: images per list and images containing each class")
    display(voc_table)

# %%
test = work_data.wsol_dataset(info, "test", image_size=224)
step = max(1, len(test) // num_samples)
picks = list(range(0, len(test), step))[:num_samples]
images = [denormalize(test[i][0].numpy()) for i in picks]
boxes = [test.boxes(test.metadata.image_ids[i]) for i in picks]
titles = [f"class {test[i][1]}" for i in picks]
fig = plot_samples(images, boxes, titles=titles, cols=min(8, len(images)))
save_figure(fig, "data_samples", output_dir, dataset=info["dataset"], synthetic=synthetic, close=False,
            caption="Test images with their ground-truth boxes (red), as the evaluator sees them (224 px)")
