"""``moana search``: the hyperparameter search of one config (:func:`moana.search.study.search`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from moana.train.commands import DEFAULT_WORK_DIR, work_dir_overrides

__all__ = ["register"]


def _search(args: argparse.Namespace) -> int:
    from moana.search.study import SearchSettings, search
    from moana.train.config import load_config

    config = load_config(args.config, args.overrides)
    given = {item.partition("=")[0].strip() for item in args.overrides}
    moved = [o for o in work_dir_overrides(config, args.work_dir)
             if o.partition("=")[0] not in given]  # what the command line sets wins
    settings = SearchSettings(trials=args.trials, sampler=args.sampler, pruner=args.pruner,
                              storage=args.storage, study_name=args.study_name, seed=args.seed,
                              heartbeat_s=args.heartbeat)
    search_dir = args.search_dir or Path(args.work_dir) / "search" / config.name
    summary = search(args.config, search_dir=search_dir, overrides=[*moved, *args.overrides],
                     space=args.space, settings=settings, quiet=not args.progress)
    print(f"search {summary['study']}: {summary['trials_complete']} trials complete "
          f"({summary['trials_pruned']} pruned, {summary['trials_failed']} failed), "
          f"mean {summary['mean_wall_s_per_trial']} s per trial")
    if summary["best_trial"] is not None:
        print(f"best: trial {summary['best_trial']}, {summary['objective']} = "
              f"{summary['best_value']:.2f}, {summary['best_params']}")
        print(f"best config: {Path(search_dir) / 'best.yaml'} "
              f"(train it once on test: moana train --config {Path(search_dir) / 'best.yaml'})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``moana search`` to the CLI's ``subparsers``."""
    from moana.search.study import DEFAULT_TRIALS

    p = subparsers.add_parser(
        "search", help="hyperparameter search of a config on train-fullsup (Optuna)",
        description="Random search (wsolevaluation's protocol) of one config: each trial trains "
                    "on train and is scored on val (train-fullsup) at its last checkpoint; test "
                    "is never read. Writes the best trial's config as best.yaml; run the search "
                    "again to resume it, or start it on several machines with one --storage.")
    p.add_argument("--config", required=True, help="shipped config name or YAML path")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config overrides applied to every trial, e.g. optim.epochs=4")
    p.add_argument("--trials", type=int, default=DEFAULT_TRIALS,
                   help="finished trials the study should hold (over all processes)")
    p.add_argument("--space", help="search space: shipped name or YAML path (default: "
                                   "search/<config>.yaml, else search/<method>.yaml)")
    p.add_argument("--sampler", default="random", choices=("random", "tpe"),
                   help="random: the protocol's random search; tpe: Optuna's TPE")
    p.add_argument("--pruner", default="none", choices=("none", "median"),
                   help="median: stop trials below the median of per-epoch val scores "
                        "(validates every epoch)")
    p.add_argument("--storage", help="database URL shared by several processes or machines, "
                                     "e.g. postgresql://user:pw@host/db (default: "
                                     "sqlite in the search directory)")
    p.add_argument("--study-name", help="study name in the storage (default: the config's name)")
    p.add_argument("--search-dir", type=Path, help="trial runs, best.yaml, trials.csv "
                                                    "(default: <work-dir>/search/<config>)")
    p.add_argument("--work-dir", default=DEFAULT_WORK_DIR, metavar="DIR",
                   help="folder for the synthetic benchmark and the search directory")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (trials train with the "
                                                       "config's runtime.seed)")
    p.add_argument("--heartbeat", type=int, default=30, metavar="S",
                   help="seconds between a running trial's heartbeats; a trial silent for "
                        "2x this long is marked failed and retried")
    p.add_argument("--progress", action="store_true", help="show each trial's progress bars")
    p.set_defaults(func=_search)
