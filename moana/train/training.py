"""Train a CAM network (vanilla CAM or with MoANA) and keep a record of the run.

SGD with momentum and two learning rates, MultiStepLR; which parameters take which rate,
Nesterov, the decay epochs and the new layers' initialisation follow ``optim.recipe``
(:mod:`moana.train.recipe`: wsolevaluation's ``main.py``, the official MoANA code, or the
kit's own). The protocol is wsolevaluation's (Choe et al., CVPR 2020): the
model is selected on the val split (train-fullsup) by localization and the test split is used
once, for the final report.

Reproducibility: data order and augmentation are seeded per epoch from (seed, epoch, rank), and
a checkpoint after every epoch stores model, optimizer, scheduler, history and RNG states, so a
resumed run ends with the same metrics as an uninterrupted one on the CPU. Under ``torchrun``
the model is wrapped in DistributedDataParallel, the data split with DistributedSampler, metrics
reduced over ranks, and only rank 0 writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from moana.engine.checkpoint import load_checkpoint, load_model_weights, unwrap
from moana.engine.distributed import DistInfo, barrier, broadcast_object, cleanup, init_distributed
from moana.engine.loop import DivergedError, EpochLoop, LoopSettings, Validation, wrap_ddp
from moana.engine.runtime import (derived_seed, is_quiet, place_model, resolve_device,
                                  seed_everything, torch_flags, worker_init)
from moana.progress import report
from moana.train.config import TrainConfig, load_config
from moana.train.evaluate import evaluate_localization, selection_score, val_thresholds
from moana.train.prepare import EvalSettings, PreparedData, build_from_config, prepare_data
from moana.train.recipe import build_optimizer
from moana.train.records import make_manifest
from moana.train.run import Run
from moana.train.step import WSOLStep

__all__ = ["RESUMABLE_CHANGES", "fit"]

#: Config keys that may differ between a run and its resumption.
RESUMABLE_CHANGES = ("runtime.quiet", "runtime.device", "runtime.output_dir",
                     "data.num_workers", "data.data_root", "data.metadata_root", "data.mask_root",
                     "optim.epochs", "eval.batch_size", "description")


def _scalars(metrics: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}{k}": v for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _config_diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict) and not prefix:
            out += _config_diff(va, vb, f"{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


def default_run_dir(config: TrainConfig) -> Path:
    """``<runtime.output_dir>/<name>-seed<seed>-<YYYYmmdd-HHMMSS>`` (local time, now)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(config.runtime.output_dir) / f"{config.name}-seed{config.runtime.seed}-{stamp}"


def fit(config: TrainConfig | str | Path, *, run_dir: Path | str | None = None,
        resume: bool = False, quiet: bool | None = None,
        overrides: list[str] | None = None, final_split: str = "test",
        on_validation: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Train, select on val, report on test; returns the final metrics (also on disk).

    Args:
        config: a TrainConfig, or a shipped config name / YAML path (with ``overrides``).
        run_dir: where the run is recorded (default ``<runtime.output_dir>/<name>-seed<s>-<time>``).
        resume: continue the run in ``run_dir`` from its last checkpoint.
        quiet: no progress bars (default: ``runtime.quiet``, or env ``CI=true``).
        final_split: ``test`` (the final report) or ``val``: the run reports the val metrics
            of its evaluated checkpoint and never opens the test split (its metadata is not
            read, checked or fingerprinted), as a hyperparameter-search trial must.
        on_validation: called as ``on_validation(epoch, score)`` after each val evaluation
            (``score``: the ``eval.select_by`` metric); an exception it raises (a pruned trial)
            stops the run and propagates.

    Under ``torchrun`` (WORLD_SIZE > 1) every process calls ``fit``; rank 0 writes. The
    process-wide torch flags the run sets (deterministic algorithms, cudnn.benchmark) are
    restored when it returns or raises. Raises ValueError for a bad config or run directory,
    FileNotFoundError for missing data or checkpoints, DivergedError when the loss diverges.
    """
    if final_split not in ("test", "val"):
        raise ValueError(f"final_split must be 'test' or 'val', got {final_split!r}")
    if not isinstance(config, TrainConfig):
        config = load_config(config, overrides)
    elif overrides:
        raise ValueError("overrides apply to a config name or path, not to a TrainConfig")
    config.validate()
    already = torch.distributed.is_available() and torch.distributed.is_initialized()
    dist_info = init_distributed(config.runtime.device)
    try:
        device = resolve_device(config.runtime.device, dist_info)
        with torch_flags(deterministic=config.runtime.deterministic, device=device):
            session = _open_session(config, run_dir, resume, quiet, dist_info, device)
            session.final_split, session.on_validation = final_split, on_validation
            return _fit(session)
    finally:
        if not already:
            cleanup()


@dataclass
class _Session:
    """A training session's fixed context: config, run directory, process, device, records."""

    config: TrainConfig
    run: Run
    dist: DistInfo
    device: torch.device
    quiet: bool
    resume: bool
    started: float = field(default_factory=time.time)
    changes: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    final_split: str = "test"
    on_validation: Callable[[int, float], None] | None = None

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits this run may open."""
        return ("train", "val", "test") if self.final_split == "test" else ("train", "val")

    @property
    def main(self) -> bool:
        return self.dist.is_main

    def save_manifest(self, status: str, epochs_done: int) -> None:
        if not self.main:
            return
        m = self.manifest
        session = m["sessions"][-1]
        session["wall_time_s"] = time.time() - self.started
        session["end_epoch"] = epochs_done
        m["wall_time_s"] = sum(s.get("wall_time_s", 0.0) for s in m["sessions"])
        m["status"] = status
        if status == "completed":
            m["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.run.write_manifest(m)


def _fit(session: _Session) -> dict[str, Any]:
    config, dist_info, device = session.config, session.dist, session.device
    seed_everything(derived_seed(config.runtime.seed, dist_info.rank))
    data = prepare_data(config, dist_info, quiet=session.quiet, splits=session.splits)
    train_set, val_set = data.dataset("train", train=True), data.dataset("val")
    model = place_model(build_from_config(config, data.num_classes), device,
                        config.runtime.channels_last)
    settings = EvalSettings.from_config(config, device=device, mask_root=data.mask_root,
                                        quiet=session.quiet, dist_info=dist_info)
    loop = _make_loop(session, model, train_set, val_set, settings)
    if session.resume:
        loop.resume()
    _start_records(session, data, loop.start_epoch)
    loop.model = wrap_ddp(loop.model, device, dist_info)
    loop.run()
    final = _final_report(session, data, loop, settings)
    if session.main:
        session.run.write_final(final)
        if loop.history:
            session.run.write_history(loop.history)
        session.save_manifest("completed", len(loop.history))
    barrier(dist_info)
    return final


def _open_session(config: TrainConfig, run_dir: Path | str | None, resume: bool,
                  quiet: bool | None, dist_info: DistInfo, device: torch.device) -> _Session:
    """Choose and check the run directory (a resume may change only RESUMABLE_CHANGES)."""
    if resume and run_dir is None:
        raise ValueError("resume needs the run directory to continue")
    if run_dir is None:
        run_dir = broadcast_object(str(default_run_dir(config)), dist_info)
    run = Run(run_dir)
    session = _Session(config, run, dist_info, device, is_quiet(quiet, config.runtime.quiet),
                       resume)
    if resume:
        if not run.config_path.is_file():
            raise FileNotFoundError(f"cannot resume: {run.config_path} does not exist")
        session.changes = _config_diff(run.config.to_dict(), config.to_dict())
        changed = [k for k in session.changes if k not in RESUMABLE_CHANGES]
        if changed:
            raise ValueError(f"cannot resume {run.path} with a different config: "
                             f"{', '.join(changed)} changed (only {', '.join(RESUMABLE_CHANGES)} "
                             f"may change)")
        if not run.checkpoint_path("last").is_file():
            raise FileNotFoundError(f"cannot resume: {run.checkpoint_path('last')} does not "
                                    f"exist (the run stopped before its first epoch ended; "
                                    f"start it again)")
    elif not run.is_empty():
        raise ValueError(f"run directory {run.path} already exists and is not empty; "
                         f"use resume (moana train --resume {run.path}) or another run dir")
    barrier(dist_info)
    return session


def _start_records(session: _Session, data: PreparedData, start_epoch: int) -> None:
    """Manifest (new, or the resumed run's with a new session entry) and config.yaml."""
    config, run = session.config, session.run
    fingerprint = data.fingerprint()
    if session.resume:
        session.manifest = run.manifest()
        recorded = session.manifest.get("dataset_fingerprint")
        if recorded not in (None, fingerprint):
            raise ValueError(f"cannot resume {run.path}: the dataset changed since the run "
                             f"started (fingerprint {fingerprint[:12]} != {recorded[:12]})")
    else:
        session.manifest = make_manifest(seed=config.runtime.seed, device=session.device,
                                         world_size=session.dist.world_size,
                                         fingerprint=fingerprint,
                                         data_root=str(data.image_root))
        session.manifest["synthetic_dataset"] = data.synthetic
        if session.main:
            run.path.mkdir(parents=True, exist_ok=True)
            run.write_config(config)
    if not session.main:
        return
    session.manifest.setdefault("sessions", []).append(
        {"started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "start_epoch": start_epoch,
         "resumed": bool(session.resume), "config_changes": session.changes,
         "wall_time_s": 0.0})
    if session.changes:  # e.g. more epochs: the run's config is the one that ran last
        run.write_config(config)
    session.manifest["status"] = "running"
    run.write_manifest(session.manifest)


def _train_loader(session: _Session, train_set: Any):
    """(loader, sampler, generator) of the train split, split over the processes."""
    config, dist_info = session.config, session.dist
    o = config.optim
    per_rank_batch = o.batch_size // dist_info.world_size
    if per_rank_batch * dist_info.world_size != o.batch_size:
        raise ValueError(f"optim.batch_size={o.batch_size} is not divisible by the "
                         f"{dist_info.world_size} processes")
    generator = torch.Generator()
    if dist_info.enabled:
        sampler: Any = DistributedSampler(train_set, num_replicas=dist_info.world_size,
                                          rank=dist_info.rank, shuffle=True,
                                          seed=config.runtime.seed)
    else:
        sampler = RandomSampler(train_set, generator=generator)
    # a last batch of a single image cannot train BatchNorm layers (PyTorch raises): drop that
    # one batch only, so every other split trains on all of its images, as wsolevaluation does
    per_rank_images = len(sampler) if dist_info.enabled else len(train_set)
    loader = DataLoader(train_set, batch_size=per_rank_batch, sampler=sampler,
                        drop_last=per_rank_images % per_rank_batch == 1,
                        num_workers=config.data.num_workers, generator=generator,
                        worker_init_fn=worker_init, pin_memory=session.device.type == "cuda")
    return loader, sampler, generator


def _make_loop(session: _Session, model: nn.Module, train_set: Any, val_set: Any,
               eval_settings: EvalSettings) -> EpochLoop:
    """The WSOL epoch loop: SGD and MultiStepLR by ``optim.recipe``
    (:func:`moana.train.recipe.build_optimizer`), val selection."""
    config = session.config
    o, m = config.optim, config.model
    optimizer, scheduler = build_optimizer(unwrap(model), o)
    loader, sampler, generator = _train_loader(session, train_set)
    settings = LoopSettings(session.device, amp=config.runtime.amp,
                            channels_last=config.runtime.channels_last, dist_info=session.dist,
                            quiet=session.quiet)

    def validate(net: nn.Module, epoch: int) -> Validation:
        val = evaluate_localization(net, val_set, eval_settings, desc="val")
        metric, score = selection_score(val, config.eval.select_by)
        if session.on_validation is not None:
            session.on_validation(epoch + 1, score)
        row = _scalars({k: v for k, v in val.items() if k != "num_images"}, "val_")
        return Validation(row, metric, score, {"thresholds": val_thresholds(val),
                                               "val": _scalars(val, "")})

    def lr_columns(opt: torch.optim.Optimizer) -> dict[str, float]:
        lrs = {g.get("name", str(i)): g["lr"] for i, g in enumerate(opt.param_groups)}
        return {"lr": lrs.get("new", o.lr), "backbone_lr": lrs.get("backbone", o.backbone_lr)}

    def on_epoch_end(row: dict[str, Any], history: list[dict[str, Any]]) -> None:
        session.run.write_history(history)
        session.save_manifest("running", len(history))
        if session.main:
            report(f"run {session.run.path.name}: epoch {row['epoch']}/{o.epochs}, "
                   f"{time.time() - session.started:.0f} s")
        if not session.quiet:
            shown = {k: row[k] for k in ("train_loss", "train_top1", "val_top1_cls",
                                         "val_MaxBoxAccV2", "val_PxAP") if k in row}
            tqdm.write(f"epoch {row['epoch']}/{o.epochs} "
                       + " ".join(f"{k}={v:.3f}" for k, v in shown.items())
                       + (" *" if row.get("is_best") else ""))

    return EpochLoop(model, loader, optimizer, scheduler,
                     WSOLStep(m.method, m.method_kw, seed=config.runtime.seed), settings,
                     epochs=o.epochs, checkpoint_dir=session.run.checkpoint_dir,
                     seed=config.runtime.seed, sampler=sampler, generator=generator,
                     validate=validate, validate_every=config.eval.every,
                     on_epoch_end=on_epoch_end, lr_columns=lr_columns,
                     checkpoint_config=config.to_dict())


def _final_report(session: _Session, data: PreparedData, loop: EpochLoop,
                  eval_settings: EvalSettings) -> dict[str, Any]:
    """Evaluate the chosen checkpoint on test with the CAM thresholds chosen on val (with
    ``final_split="val"``: report that checkpoint's val metrics, test unopened)."""
    config, best, history = session.config, loop.best, loop.history
    which = config.eval.checkpoint
    path = session.run.checkpoint_path(which)
    state = load_checkpoint(path, map_location=session.device)
    load_model_weights(loop.model, state, path)
    if which == "best":
        val = dict(best.get("val", {}))
        thresholds = dict(best.get("thresholds", {}))
    else:
        last_val = next((r for r in reversed(history) if "selection_metric" in r), {})
        val = {k[4:]: v for k, v in last_val.items() if k.startswith("val_")}
        if val:  # the history leaves out the count; every val image is scored once
            val["num_images"] = len(data.dataset("val"))
        thresholds = val_thresholds(val)
    if session.final_split == "val":  # a search trial: the test split stays closed
        test = {k: v for k, v in val.items() if k != "box_curves"}
    else:
        test = evaluate_localization(loop.model, data.dataset("test"), eval_settings,
                                     thresholds=thresholds, desc="test")
    curves = test.pop("box_curves", None)
    final = {
        "name": config.name,
        "arch": config.model.arch,
        "method": config.model.method,
        "dataset": config.data.dataset,
        "seed": config.runtime.seed,
        "split": session.final_split,
        "checkpoint": which,
        "epoch": int(state["epoch"]),
        "selection_metric": best.get("metric"),
        "cam_normalization": config.eval.cam_normalization,
        "eval_preset": config.eval.preset,
        "thresholds_from_val": thresholds,
        **test,
        "val": val,
    }
    if curves is not None:
        final["test_box_curves"] = curves
    return final
