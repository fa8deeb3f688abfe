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
# # 02 · Ablations and cost
#
# What each part of MoANA buys (Sohn et al., *Sci. Rep.* 2023): the three views (channel, height,
# width) alone and in pairs, the calibration `x·(a + b·M)`, full vs depthwise axis convolutions,
# the insertion point, and the coarse attention modules it is compared with (SE, CBAM, ECA,
# coordinate attention) and ADL. Every variant is a configuration in `moana.experiments.variants.VARIANTS`,
# trained for several seeds with `moana.experiments.ablation.run_ablation`; `summarize` reports mean ± std
# and the differences to CAM and MoANA paired by seed with 95% intervals. The cost table measures parameters, MACs
# and CPU latency of every module in one run.

# %% tags=["parameters"]
profile: str = "smoke"  # smoke | paper: the preset the runner took these values from
work_dir: str = "../work"  # intermediate artefacts (datasets, runs, checkpoints), outside results/
output_dir: str = "../work/interactive"  # tables/ and figures/ go here (moana reproduce: a staging dir)
seed: int = 0  # unused: see seeds
device: str = "cpu"  # cpu | cuda | auto
seeds: list = [0, 1, 2, 3, 4]  # training seeds per variant (at least 3 to see the seed spread)
variants: list = None  # variant names (None: every variant in moana.experiments.variants.VARIANTS; the benchmark controls of CONTROLS by name)
config: str = "smoke_moana"  # shipped training config every variant starts from
epochs: int = None  # training epochs per run (None: the config's own, as the smoke profile)
overrides: list = []  # extra config overrides for every run
ablation_data: dict = None  # synthetic knobs of another dataset for the many ablation runs, e.g. {"seed": 0, "image_size": 64} (None: stage 00's data)
metric: str = "MaxBoxAccV2"  # metric of the ablation figure
cost_arch: str = "resnet50"  # backbone of the cost table
cost_image_size: int = 112  # input side for the cost table
cost_repeats: int = 2  # timed forwards per module (median)
reuse_runs: bool = False  # keep finished ablation runs instead of training them again
workers: int = 2  # runs trained at once, one process and one thread each (2 on a 2-core CPU)
validity_variants: list = ["cam", "has", "cam+mark_hidden", "moana", "se", "cbam"]  # entries of the benchmark-validity table (synthetic data; those among variants)

# %%
import shutil

from moana.experiments import ablation, cost, summary as ablation_summary, variants as ablation_variants
from moana.reproduce.profiles import load_data_info, work_layout
from moana.viz.figures import plot_ablation, save_figure
from moana.viz.tables import save_table

layout = work_layout(work_dir)
info = load_data_info(work_dir)
synthetic = bool(info.get("synthetic"))

# %% [markdown]
# ## The variants

# %%
table = ablation_variants.variant_table(variants)
variant_names = table.index.tolist()
save_table(table.reset_index() if table.index.name else table, "ablation_variants", output_dir,
           dataset=info["dataset"], synthetic=synthetic,
           caption="Ablation variants: what each one changes relative to full MoANA")
table

# %% [markdown]
# ## Train every variant for every seed

# %%
if not reuse_runs:
    shutil.rmtree(layout.ablation_runs, ignore_errors=True)
# 17 variants x seeds runs: a smaller synthetic set (ablation_data) keeps the smoke profile in budget
data_overrides = ablation.ablation_data_overrides(info, layout.ablation_runs / "data", ablation_data)
run_overrides = [f"runtime.device={device}", *data_overrides, *overrides]
results = ablation.run_ablation(layout.ablation_runs, variant_names, seeds, config=config, epochs=epochs,
                                overrides=run_overrides, resume=reuse_runs, progress=True, workers=workers)
metrics = [m for m in ablation_variants.DEFAULT_METRICS if m in results and results[m].notna().any()]
summary = ablation_summary.summarize(results, metrics)
readable = ablation_summary.format_summary(summary)
one_run = ablation.run_command(config, results["variant"].iloc[0], int(results["seed"].iloc[0]),
                               epochs=epochs, overrides=overrides,
                               threads=1 if workers > 1 else None)
save_table(readable.reset_index(), "ablations", output_dir, dataset=info["dataset"], synthetic=synthetic,
           command=one_run,
           caption=f"Ablations: mean ± std over seeds {seeds}, Δ to CAM and to MoANA paired by seed [95% t interval] (* = excludes 0)",
           notes=summary.attrs.get("rule"))
save_table(results, "ablations_per_seed", output_dir, dataset=info["dataset"], synthetic=synthetic,
           command=one_run,
           caption="Ablations: every (variant, seed) run with its test metrics and wall time")
readable

# %%
fig = plot_ablation(results, metric if metric in results else metrics[0])
save_figure(fig, "ablations", output_dir, dataset=info["dataset"], synthetic=synthetic, close=False,
            caption=f"Ablations: test {metric} per variant, mean ± std over seeds (dots: seeds; red: CAM)")

# %% [markdown]
# ## Can the benchmark tell methods apart? (synthetic data only)
#
# The validity table puts every trained entry between a floor and a ceiling: the center Gaussian
# (a fixed blob, no model), vanilla CAM, controls known to spread a CAM over the whole object
# (Hide-and-Seek; CAM trained with the class mark hidden in half of the training images), the
# methods, and the ground-truth mask used as the score map. Δ is paired by seed with a 95% t
# interval; filled markers in the figure: the interval excludes 0.

# %%
validity = None
if synthetic and "cam" in variant_names:
    import pandas as pd

    from moana.experiments import benchmark
    from moana.experiments.prepared_data import load_split

    if ablation_data:  # the ablation's own smaller benchmark
        from moana.data.metadata import load_wsol_metadata

        root = layout.ablation_runs / "data"
        test_split, mask_root = load_wsol_metadata(root / "metadata" / "test"), root / "images"
        size = int(ablation_data["image_size"])
    else:
        test_split, mask_root = load_split(info, "test"), info["mask_root"]
        size = int(info["synthetic_knobs"]["image_size"])
    rows = benchmark.benchmark_validity(results, test_split, mask_root, image_size=size,
                                        variants=validity_variants)
    validity = pd.DataFrame(rows, columns=list(benchmark.COLUMNS))
    save_table(validity, "benchmark_validity", output_dir, dataset=info["dataset"], synthetic=True,
               caption="Benchmark validity: floor, CAM, controls, methods and ceiling; MaxBoxAccV2 (%) "
               "mean ± std over seeds, Δ vs CAM paired by seed with a 95% t interval")
    fig = benchmark.plot_validity(rows)
    save_figure(fig, "benchmark_validity", output_dir, dataset=info["dataset"], synthetic=True, close=False,
                caption="Benchmark validity: MaxBoxAccV2 per entry (mean ± std) and the paired Δ vs CAM "
                "(95% CI; filled: excludes 0)")
validity

# %% [markdown]
# ## Complexity: parameters, MACs, CPU latency (ratios to the plain backbone)

# %%
cost = cost.cost_table(arch=cost_arch, image_size=cost_image_size, repeats=cost_repeats)
save_table(cost.reset_index(), "complexity", output_dir, dataset=f"{cost_arch} @ {cost_image_size}px (random input)",
           synthetic=False, floatfmt=".3g",
           caption=f"Cost of each attention module in {cost_arch}: parameters, MACs, CPU latency and ratios to CAM")
cost
