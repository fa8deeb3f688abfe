"""Hyperparameter search under wsolevaluation's protocol (Choe et al., CVPR 2020), on Optuna.

The protocol: every trial trains on ``train`` (train-weaksup) and is scored on ``val``
(train-fullsup) only, at its last checkpoint with the CAM threshold chosen on val (the
config's ``eval.checkpoint`` / ``eval.select_by``); the test split is never opened during a
search (:func:`moana.train.training.fit` with ``final_split="val"`` leaves it out of the run's data).
The best trial's config is written as a normal config file, which ``moana train --config``
trains once more and evaluates on test, once.

What the reference publishes, and what is chosen here: wsolevaluation's README says that every
method's hyperparameters were optimized on the same train-fullsup split and that the last
checkpoint is evaluated, and links the searched values in a spreadsheet (not retrievable here);
its code ships no search. The paper's text was not at hand either. The default budget of 30
random trials per config and the log-uniform learning rate over [1e-5, 1] are what we recall of
the paper, not checked against it; every other range is chosen here, and each space file
(``moana/train/configs/search/``) says so per parameter.

Sampling: ``random`` (default; the protocol's random search) draws each trial's values from a
seed and the trial number only, so trials are the same whichever process runs them; ``tpe``
(Optuna's TPE) is an option. Pruning is off by default (a pruned trial is not the protocol's
last-checkpoint score); ``median`` prunes on per-epoch val scores (``eval.every=1``).

Storage: an SQLite file ``study.db`` in the search directory, or ``storage`` (any SQLAlchemy
URL, e.g. PostgreSQL) shared by processes on several machines. Each process runs trials until
the study holds ``trials`` finished ones; a trial's number decides whether it is inside the
budget, so processes starting together never run more. A trial whose process died (its
heartbeat stopped) is marked failed and retried with the same values; one interrupted with
Ctrl-C is retried by the next ``search`` call on the study.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from moana.search.space import SearchSpace, default_space, load_space
from moana.train.config import TrainConfig, load_config

__all__ = ["DEFAULT_TRIALS", "SearchSettings", "TrialSeededSampler", "load_search", "open_study",
           "search"]

DEFAULT_TRIALS = 30
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: study attributes that must match when a search is resumed or joined
_IDENTITY = ("config", "config_digest", "space", "space_digest", "metric_key")
#: config keys a process joining or resuming a study may set differently (where it runs)
_LOCAL_KEYS = {"runtime": ("quiet", "device", "output_dir"), "data": ("num_workers",),
               "eval": ("batch_size", "workers")}


@dataclass(frozen=True)
class SearchSettings:
    """How a search samples, prunes, stores and counts its trials."""

    trials: int = DEFAULT_TRIALS
    sampler: str = "random"  # random | tpe
    pruner: str = "none"  # none | median
    storage: str | None = None  # None: sqlite:///<search dir>/study.db
    study_name: str | None = None  # None: the config's name
    seed: int = 0
    heartbeat_s: int = 30
    poll_s: float = 2.0

    def check(self) -> "SearchSettings":
        """Raise ValueError naming the first setting out of range; return self."""
        if self.trials < 1:
            raise ValueError(f"trials must be >= 1, got {self.trials}")
        if self.sampler not in ("random", "tpe"):
            raise ValueError(f"sampler must be 'random' or 'tpe', got {self.sampler!r}")
        if self.pruner not in ("none", "median"):
            raise ValueError(f"pruner must be 'none' or 'median', got {self.pruner!r}")
        if self.heartbeat_s < 1:
            raise ValueError(f"heartbeat must be >= 1 s, got {self.heartbeat_s}")
        return self


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """Random search whose draws depend only on (seed, trial number, parameter name): Optuna's
    :class:`~optuna.samplers.RandomSampler`, seeded afresh for each draw."""

    def __init__(self, seed: int = 0):
        self.seed = int(seed)

    def infer_relative_search_space(self, study, trial):
        """No joint sampling: every parameter is drawn on its own."""
        return {}

    def sample_relative(self, study, trial, search_space):
        """No joint sampling: every parameter is drawn on its own."""
        return {}

    def sample_independent(self, study, trial, param_name, param_distribution):
        """One draw of Optuna's RandomSampler seeded from (seed, trial number, name)."""
        text = f"{self.seed}/{trial.number}/{param_name}".encode()
        seed = int.from_bytes(hashlib.sha256(text).digest()[:4], "little")
        sampler = optuna.samplers.RandomSampler(seed=seed)
        return sampler.sample_independent(study, trial, param_name, param_distribution)


class _Surplus(Exception):
    """A trial asked for after the budget was filled by other processes."""


def _sampler(settings: SearchSettings) -> optuna.samplers.BaseSampler:
    if settings.sampler == "random":
        return TrialSeededSampler(settings.seed)
    return optuna.samplers.TPESampler(seed=settings.seed)


def _pruner(settings: SearchSettings) -> optuna.pruners.BasePruner:
    if settings.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


def storage_url(settings: SearchSettings, search_dir: Path) -> str:
    """The study's storage: ``settings.storage`` or the SQLite file in ``search_dir``."""
    return settings.storage or f"sqlite:///{(Path(search_dir) / 'study.db').resolve()}"


def shown_url(url: str) -> str:
    """A storage URL without its password."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, credentials = head.partition("://")
    return f"{scheme}://{credentials.partition(':')[0]}:***@{tail}"


def _connect(url: str, name: str, settings: SearchSettings, attempts: int = 6) -> optuna.Study:
    """The study in ``url``, created if missing. Processes that start together on an empty
    database race to create its tables; the loser retries (a few times, with a short wait)."""
    from sqlalchemy.exc import SQLAlchemyError

    connect = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are experimental in Optuna 5.x
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
                storage = optuna.storages.RDBStorage(
                    url, engine_kwargs=connect, heartbeat_interval=settings.heartbeat_s,
                    grace_period=2 * settings.heartbeat_s, heartbeat_stale_trial_callback=retry)
            return optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                       sampler=_sampler(settings), pruner=_pruner(settings),
                                       load_if_exists=True)
        except SQLAlchemyError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def open_study(url: str, name: str, settings: SearchSettings,
               identity: dict[str, Any]) -> optuna.Study:
    """Create the study, or load it and check that it was made for the same search."""
    study = _connect(url, name, settings)
    have = {k: study.user_attrs.get(k) for k in _IDENTITY}
    if all(v is None for v in have.values()):
        for key, value in identity.items():
            study.set_user_attr(key, value)
        return study
    changed = [k for k in _IDENTITY if have[k] != identity.get(k)]
    if changed:
        raise ValueError(f"study {name!r} in {shown_url(url)} was made for another search "
                         f"({', '.join(changed)} differ: {have[changed[0]]!r} there, "
                         f"{identity.get(changed[0])!r} here); use another --study-name or "
                         f"search directory")
    return study


def _counts(study: optuna.Study) -> dict[TrialState, int]:
    counts = dict.fromkeys(TrialState, 0)
    for t in study.get_trials(deepcopy=False):
        counts[t.state] += 1
    return counts


def _retry_interrupted(study: optuna.Study) -> None:
    """Enqueue once, with its values, every trial stopped by Ctrl-C (marked ``interrupted``)."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for t in trials:
        if t.state == TrialState.FAIL and t.user_attrs.get("interrupted") and t.number not in retried:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})


def _in_budget(study: optuna.Study, trial: optuna.Trial, trials: int) -> bool:
    """A new trial is inside the budget when fewer than ``trials`` lower-numbered trials are
    finished, running or waiting; a retried (enqueued) trial always is."""
    frozen = study.get_trials(deepcopy=False)
    if any(t.number == trial.number and "fixed_params" in t.system_attrs for t in frozen):
        return True
    alive = [t for t in frozen if t.number < trial.number and t.state != TrialState.FAIL]
    return len(alive) < trials


def _objective(study: optuna.Study, settings: SearchSettings, config: str,
               overrides: list[str], space: SearchSpace, search_dir: Path, quiet: bool):
    from moana.engine.loop import DivergedError
    from moana.train.training import fit

    def objective(trial: optuna.Trial) -> float:
        if not _in_budget(study, trial, settings.trials):
            trial.set_user_attr("surplus", True)
            raise _Surplus(f"trial {trial.number}: the budget of {settings.trials} trials is "
                           f"already taken")
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        drawn = space.suggest(trial)
        extra = ["eval.every=1"] if settings.pruner != "none" else []
        trial_config = load_config(config, [*overrides, *extra, *drawn])
        trial.set_user_attr("overrides", drawn)
        run_dir = search_dir / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))

        def on_validation(epoch: int, score: float) -> None:
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"val score {score:.2f} after epoch {epoch}")

        started = time.time()
        try:
            final = fit(trial_config, run_dir=run_dir, quiet=quiet, final_split="val",
                        on_validation=on_validation if settings.pruner != "none" else None)
        except DivergedError as err:  # a configuration that cannot train localizes nothing
            trial.set_user_attr("diverged", str(err))
            return 0.0
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            raise
        finally:
            trial.set_user_attr("wall_s", round(time.time() - started, 2))
        val = {k: v for k, v in final["val"].items() if isinstance(v, (int, float))}
        trial.set_user_attr("val", val)
        return float(val[study.user_attrs["metric_key"]])

    return objective


def config_digest(config: TrainConfig) -> str:
    """A hash of the resolved config, less the keys that only say where it runs."""
    data = config.to_dict()
    data.pop("description", None)
    for section, keys in _LOCAL_KEYS.items():
        for key in keys:
            data[section].pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _metric_key(config: TrainConfig) -> str:
    """The val metric the search maximizes: the config's model-selection metric."""
    from moana.metrics.common import primary_metric

    select = config.eval.select_by
    return select if select != "auto" else primary_metric(config.data.dataset)


def search(config: str | Path, *, search_dir: str | Path | None = None,
           overrides: list[str] | None = None, space: str | Path | None = None,
           settings: SearchSettings | None = None, quiet: bool = True) -> dict[str, Any]:
    """Run (or resume, or join) the search of one config; returns its summary.

    Writes to ``search_dir`` (default ``<runtime.output_dir>/search/<config name>``): the trial
    runs under ``trials/``, ``study.db`` (unless ``settings.storage``), and, once the budget is
    full, ``best.yaml``, ``trials.csv`` and ``search.json`` (:mod:`moana.search.report`).
    """
    from moana.search.report import write_report

    settings = (settings or SearchSettings()).check()
    overrides = list(overrides or [])
    base = load_config(config, overrides)
    space = load_space(space if space is not None else default_space(base.name, base.model.method))
    load_config(config, [*overrides, *space.examples()])  # every key the space sets exists
    search_dir = Path(search_dir or Path(base.runtime.output_dir) / "search" / base.name)
    search_dir.mkdir(parents=True, exist_ok=True)
    url = storage_url(settings, search_dir)
    identity = {"config": base.name, "config_digest": config_digest(base), "space": space.name,
                "space_digest": space.digest(), "metric_key": _metric_key(base)}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(url, settings.study_name or base.name, settings, identity)
    study.set_user_attr("overrides", overrides)
    _retry_interrupted(study)
    objective = _objective(study, settings, str(config), overrides, space, search_dir, quiet)
    while True:
        with warnings.catch_warnings():  # experimental since Optuna 2.9, still there in 5.x
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        counts = _counts(study)
        finished = sum(counts[s] for s in FINISHED)
        if finished >= settings.trials:
            break
        if finished + counts[TrialState.RUNNING] >= settings.trials and not counts[TrialState.WAITING]:
            time.sleep(settings.poll_s)  # the rest runs elsewhere; wait in case it fails
            continue
        study.optimize(objective, n_trials=1, catch=(_Surplus,))
    return write_report(study, search_dir, base, space, settings, shown_url(url))


def load_search(search_dir: str | Path, storage: str | None = None) -> optuna.Study:
    """The study of a finished search directory (its ``search.json`` names the study; the
    storage is ``storage`` or the directory's ``study.db``)."""
    search_dir = Path(search_dir)
    info_path = search_dir / "search.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path} not found: {search_dir} holds no finished search")
    name = json.loads(info_path.read_text())["study"]
    url = storage or f"sqlite:///{(search_dir / 'study.db').resolve()}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=url)
