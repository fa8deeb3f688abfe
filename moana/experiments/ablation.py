"""The ablation runner: every (variant, seed) trained through :func:`moana.train.fit`.

Resumable: a finished run leaves ``runs/<variant>/seed<s>/ablation_metrics.json``; an
interrupted one continues from its last checkpoint. ``results.csv`` holds one row per seed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moana.experiments.variants import SMOKE_VARIANTS, VARIANTS, get_variants, variant_overrides
from moana.io import atomic_write_text, read_json, write_json

RESULTS_CSV = "results.csv"
_DONE = "ablation_metrics.json"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "variant"




def _scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float, np.integer, np.floating)):
            out[key] = float(value)
        elif hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
            out[key] = float(value.item())
    return out


def _default_fit(config_name: str) -> Callable[[list[str], Path, bool], Mapping[str, Any]]:
    def fit_one(overrides: list[str], run_dir: Path, resume: bool) -> Mapping[str, Any]:
        from moana.train import fit
        from moana.train.config import load_config

        return fit(load_config(config_name, overrides), run_dir=run_dir, resume=resume)

    return fit_one


def variant_data_root(data_root: str | os.PathLike, v: Mapping[str, Any]) -> Path:
    """Where a variant with its own training data (``v["data"]``, synthetic knobs) keeps it:
    ``<data_root>-<knob>=<value>...`` beside the shared benchmark; ``data_root`` otherwise."""
    knobs = v.get("data") or {}
    if not knobs:
        return Path(data_root)
    tag = _slug("-".join(f"{k}={knobs[k]}" for k in sorted(knobs)))
    return Path(f"{Path(data_root)}-{tag}")


def _run_overrides(v: Mapping[str, Any], seed: int, epochs: int | None,
                   data_root: str | os.PathLike | None, overrides: Sequence[str]) -> list[str]:
    out = ["runtime.quiet=true", *variant_overrides(v), f"runtime.seed={seed}"]
    if epochs is not None:
        out.append(f"optim.epochs={int(epochs)}")
    knobs = v.get("data") or {}
    if data_root is not None and not knobs:
        out.append(f"data.data_root={Path(data_root)}")
    out += list(overrides)
    if knobs:  # after the caller's data overrides: the variant's own training data
        roots = [o.split("=", 1)[1] for o in out if o.startswith("data.data_root=")]
        if data_root is None and not roots:
            raise ValueError(f"variant {v['name']!r} trains on its own synthetic data "
                             f"({knobs}): give data_root or a data.data_root override")
        base = roots[-1] if roots else data_root  # the benchmark the others train on
        out.append(f"data.data_root={variant_data_root(base, v)}")
        out += [f"data.synthetic.{k}={json.dumps(x)}" for k, x in knobs.items()]
    return out


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _finished_with(run_dir: Path, run_overrides: list[str]) -> bool:
    """True when the run finished with these overrides (seed, variant, epochs, data root and
    the caller's overrides); a record of other overrides means the run is redone."""
    record = _read_record(run_dir / _DONE)
    return record is not None and record.get("overrides") == run_overrides


def _run_one(fit_one: Callable[[list[str], Path, bool], Mapping[str, Any]],
             v: Mapping[str, Any], seed: int, run_dir: Path, run_overrides: list[str],
             resume: bool) -> None:
    """Train (or continue) one run and write its record (``ablation_metrics.json``)."""
    from moana.train.run import Run

    started_path = run_dir.parent / f"{run_dir.name}.started.json"  # fit wants an empty dir
    started = _read_record(started_path)
    same = started is None or started.get("overrides") == run_overrides  # None: older runs
    continue_run = resume and same and Run(run_dir).checkpoint_path("last").is_file()
    if not continue_run and run_dir.exists():
        shutil.rmtree(run_dir)  # unfinished without checkpoint, other overrides, or a rerun
    write_json(started_path, {"overrides": run_overrides})
    start = time.perf_counter()
    metrics = fit_one(run_overrides, run_dir, continue_run)
    write_json(run_dir / _DONE, {
        "variant": v["name"], "group": v["group"], "method": v["method"], "seed": seed,
        "seconds": time.perf_counter() - start, "overrides": run_overrides,
        "metrics": _scalar_metrics(metrics),
    })


def run_ablation(
    out_dir: str | os.PathLike,
    variants: Iterable[str | Mapping[str, Any]] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    config: str = "smoke_moana",
    epochs: int | None = None,
    overrides: Sequence[str] = (),
    data_root: str | os.PathLike | None = None,
    resume: bool = True,
    fit_fn: Callable[[list[str], Path, bool], Mapping[str, Any]] | None = None,
    progress: bool = True,
    workers: int = 1,
) -> pd.DataFrame:
    """Train every (variant, seed) and return the per-seed results (also ``out_dir/results.csv``).

    Args:
        out_dir: results directory; run ``v`` / seed ``s`` goes to ``runs/<v>/seed<s>/``.
        variants: names from :data:`VARIANTS` or custom dicts (default :data:`SMOKE_VARIANTS`).
        seeds: training seeds (``runtime.seed=<s>`` override).
        config: config name or path for :func:`moana.train.config.load_config`.
        epochs: if given, the ``optim.epochs`` override.
        overrides: further overrides applied to every run, last (e.g. a smaller synthetic
            dataset: ``data.synthetic.per_class={train: 20, val: 5, test: 10}``).
        data_root: the ``data.data_root`` override. Default: ``out_dir/data`` when the config's
            dataset is ``synthetic`` (generated there on first use, shared by all runs, so a
            differently sized benchmark elsewhere does not clash), else the config's.
        resume: skip runs whose ``ablation_metrics.json`` records the same run overrides
            (variant, seed, epochs, data root, ``overrides``; a run made with others is redone)
            and continue interrupted runs from their last checkpoint when
            ``runs/<variant>/seed<N>.started.json`` records the same overrides (else start
            again). With ``resume=False`` every requested run is trained again from
            scratch (its old run directory is deleted first).
        fit_fn: ``fit_fn(overrides, run_dir, resume) -> metrics``; default loads ``config``
            with the overrides and calls :func:`moana.train.fit`.
        workers: runs trained at once, each in its own process with one intra-op thread
            (``workers=2`` on 2 CPU cores trains about twice the runs per minute of one
            process with 2 threads, for these small networks). Needs the default ``fit_fn``;
            synthetic datasets are generated first, by this process. Every run is seeded by
            its own ``runtime.seed``, so the results do not depend on ``workers``.

    Each run's overrides are ``runtime.quiet=true``, the variant's ``model.*`` keys,
    ``runtime.seed``, ``optim.epochs`` (if ``epochs``), ``data.data_root``, then ``overrides``.
    The smoke profile passes ``overrides=SMOKE_OVERRIDES`` (about 5-15 s per run on 2 cores).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = get_variants(SMOKE_VARIANTS if variants is None else variants)
    seeds = [int(s) for s in seeds]
    _check_grid(chosen, seeds, workers, fit_fn)
    if fit_fn is None:
        from moana.train.config import load_config

        # fail early on a bad config or override, before any run starts
        base = load_config(config, list(overrides))
        if data_root is None and base.data.dataset == "synthetic":
            data_root = out / "data"
    order = [x["name"] for x in chosen]
    todo = []
    for v, seed in ((v, s) for v in chosen for s in seeds):
        run_dir = out / "runs" / _slug(v["name"]) / f"seed{seed}"
        run_overrides = _run_overrides(v, seed, epochs, data_root, overrides)
        if not (resume and _finished_with(run_dir, run_overrides)):
            todo.append((v, seed, run_dir, run_overrides))
    bar = _progress_bar(len(chosen) * len(seeds), len(todo)) if progress else None
    try:
        if int(workers) > 1 and len(todo) > 1:
            _run_parallel(config, todo, resume, int(workers), out, order, seeds, bar)
        else:
            _run_serial(fit_fn or _default_fit(config), todo, resume, out, order, seeds, bar)
    finally:
        if bar is not None:
            bar.close()
    return _write_results_csv(out, order, seeds)


def _check_grid(chosen: list[Mapping[str, Any]], seeds: list[int], workers: int,
                fit_fn: Callable | None) -> None:
    """Distinct seeds, distinct run directories, a valid number of workers."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct ints, got {seeds!r}")
    slugs = [_slug(v["name"]) for v in chosen]
    clash = sorted({x for x in slugs if slugs.count(x) > 1})
    if clash:
        raise ValueError(f"variant names map to the same run directory {clash}; rename them")
    if int(workers) < 1 or (int(workers) > 1 and fit_fn is not None):
        raise ValueError(f"workers must be >= 1 (and 1 with a custom fit_fn), got {workers!r}")


def _progress_bar(total: int, todo: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=total - todo, desc="ablation", unit="run")


def _run_serial(fit_one: Callable[[list[str], Path, bool], Mapping[str, Any]], todo: list,
                resume: bool, out: Path, order: list[str], seeds: list[int], bar: Any) -> None:
    """The runs one after the other in this process; results.csv rewritten after each."""
    for v, seed, run_dir, run_overrides in todo:
        if bar is not None:
            bar.set_postfix_str(f"{v['name']} seed {seed}")
        _run_one(fit_one, v, seed, run_dir, run_overrides, resume)
        _write_results_csv(out, order, seeds)
        if bar is not None:
            bar.update(1)


def _worker_run(config: str, v: Mapping[str, Any], seed: int, run_dir: Path,
                run_overrides: list[str], resume: bool) -> tuple[str, int]:
    """One run in a worker process (one intra-op thread)."""
    import torch

    torch.set_num_threads(1)
    _run_one(_default_fit(config), v, seed, run_dir, run_overrides, resume)
    return v["name"], seed


def _run_parallel(config: str, todo: list, resume: bool, workers: int, out: Path,
                  order: list[str], seeds: list[int], bar) -> None:
    """Train ``todo`` in a pool of ``workers`` spawned processes (data generated here first)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from moana.train.config import load_config
    from moana.train.prepare import prepare_data

    roots = {}
    for _, _, _, run_overrides in todo:  # one generation per dataset, before the workers start
        cfg = load_config(config, run_overrides)
        roots.setdefault(str(cfg.data.data_root), cfg)
    for cfg in roots.values():
        prepare_data(cfg)
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_worker_run, config, v, seed, run_dir, run_overrides, resume)
                   for v, seed, run_dir, run_overrides in todo]
        for future in as_completed(futures):
            name, seed = future.result()  # a failed run raises here, naming its error
            _write_results_csv(out, order, seeds)
            if bar is not None:
                bar.set_postfix_str(f"{name} seed {seed}")
                bar.update(1)


def load_results(out_dir: str | os.PathLike) -> pd.DataFrame:
    """Per-seed results of every finished run under ``out_dir`` (one row per variant and seed)."""
    out = Path(out_dir)
    rows = []
    for path in sorted(out.glob(f"runs/*/seed*/{_DONE}")):
        try:
            rec = read_json(path)
            ident = {k: rec[k] for k in ("variant", "group", "method", "seed", "seconds")}
            rows.append(ident | {k: v for k, v in rec["metrics"].items() if k not in ident})
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a valid ablation record ({err})") from None
    cols = ["variant", "group", "method", "seed", "seconds"]
    df = pd.DataFrame(rows, columns=None if rows else cols)
    if len(df):  # the order of VARIANTS, then custom variants by name
        rank = {v["name"]: i for i, v in enumerate(VARIANTS)}
        df = df.assign(_r=df["variant"].map(lambda n: rank.get(n, len(rank))))
        df = df.sort_values(["_r", "variant", "seed"], kind="stable").drop(columns="_r")
    return df.reset_index(drop=True)


def _write_results_csv(out: Path, order: list[str], seeds: list[int]) -> pd.DataFrame:
    """Rewrite ``results.csv`` with every finished run; return this request's rows in its order."""
    df = load_results(out)
    atomic_write_text(out / RESULTS_CSV, df.to_csv(index=False))
    if not len(df):
        return df
    df = df[df["variant"].isin(order) & df["seed"].isin(seeds)]
    rank = {n: i for i, n in enumerate(order)}
    df = df.assign(_r=df["variant"].map(rank)).sort_values(["_r", "seed"], kind="stable")
    return df.drop(columns="_r").reset_index(drop=True)


def ablation_data_overrides(info: Mapping[str, Any], data_root: str | os.PathLike,
                            synthetic: Mapping[str, Any] | None = None) -> list[str]:
    """``data.*`` overrides of the ablation runs: a separate synthetic benchmark in
    ``data_root`` made with the ``synthetic`` knobs (many runs: a smaller set keeps the smoke
    profile in budget), or, with ``synthetic=None``, the work directory's prepared data."""
    from moana.experiments.prepared_data import train_data_overrides

    if not synthetic:
        return train_data_overrides(info)
    return ["data.dataset=synthetic", f"data.data_root={Path(data_root)}",
            f"data.synthetic={json.dumps(dict(synthetic))}"]


def run_command(config: str, variant: str | Mapping[str, Any], seed: int, *,
                epochs: int | None = None, overrides: Sequence[str] = (),
                threads: int | None = None) -> str:
    """The ``moana train`` command that trains one (variant, seed) run alone on stage 00's
    benchmark under ``work/`` (results/README.md's one-cell command); ``threads``: the torch
    threads the run had (parallel ablation workers train on one each), as ``OMP_NUM_THREADS``."""
    from moana.experiments.grid import cell_command

    v = get_variants([variant])[0]
    run = [*variant_overrides(v), f"runtime.seed={seed}", *overrides]
    if epochs is not None:
        run.append(f"optim.epochs={int(epochs)}")
    knobs = v.get("data") or {}
    if knobs:  # the variant's own training data beside the shared benchmark
        run.append(f"data.data_root={variant_data_root('work/data/synthetic_wsol', v)}")
        run += [f"data.synthetic.{k}={json.dumps(x)}" for k, x in knobs.items()]
    command = cell_command("moana train", config, run)
    return f"OMP_NUM_THREADS={threads} {command}" if threads else command
