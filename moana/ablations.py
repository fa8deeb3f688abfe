"""Compatibility re-export: the ablation code lives in :mod:`moana.experiments` (variants,
cost, ablation runner, summary) and the figure in :func:`moana.viz.figures.plot_ablation`."""

from moana.experiments.ablation import RESULTS_CSV, load_results, run_ablation
from moana.experiments.cost import cost_table
from moana.experiments.summary import format_summary, summarize
from moana.experiments.variants import (COST_VARIANTS, DEFAULT_METRICS, SMOKE_OVERRIDES,
                                        SMOKE_VARIANTS, VARIANTS, build_variant_model,
                                        get_variants, variant_model_kwargs, variant_overrides,
                                        variant_table)
from moana.viz.figures import plot_ablation

__all__ = ["VARIANTS", "SMOKE_VARIANTS", "SMOKE_OVERRIDES", "COST_VARIANTS", "DEFAULT_METRICS",
           "RESULTS_CSV", "get_variants", "variant_table", "variant_model_kwargs",
           "variant_overrides", "build_variant_model", "cost_table", "run_ablation",
           "load_results", "summarize", "format_summary", "plot_ablation"]
