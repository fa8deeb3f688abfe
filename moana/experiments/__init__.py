"""Experiments the notebooks call: the WSOL training grid, ablations (variants, runner, summary,
cost), and loading the trained runs. Import the submodule you need, e.g.
``from moana.experiments.grid import train_grid`` or ``from moana.experiments.ablation import
run_ablation``; this package imports nothing by itself."""
