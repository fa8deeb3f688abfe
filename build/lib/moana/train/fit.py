"""Train a CAM network (vanilla CAM or with MoANA) and keep a record of the run.

The recipe is the MoANA paper's (Sohn et al., Scientific Reports 2023): SGD with momentum, the
new layers (attention module and classifier) at ``lr`` and the pretrained backbone at
``backbone_lr``, MultiStepLR. The protocol is wsolevaluation's (Choe et al., CVPR 2020): the
model is selected on the val split (train-fullsup) by localization and the test split is used
once, for the final report.

Reproducibility: data order and augmentation are seeded per epoch from (seed, epoch, rank), and
a checkpoint after every epoch stores model, optimizer, scheduler, history and RNG states, so a
resumed run ends with the same metrics as an uninterrupted one on the CPU. Under ``torchrun``
the model is wrapped in DistributedDataParallel, the data split with DistributedSampler, metrics
reduced over ranks, and only rank 0 writes.
"""

from __future__ import annotations

import json
import random
import warnings
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, RandomSampler
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from moana.train.checkpoint import (
    check_compatible,
    load_checkpoint,
    load_model_weights,
    restore_rng_state,
    save_checkpoint,
    unwrap,
)
from moana.train.config import TrainConfig, load_config, save_config
from moana.train.distributed import (
    DistInfo,
    all_reduce_sum,
    barrier,
    broadcast_object,
    cleanup,
    init_distributed,
)
from moana.train.evaluate import (
    autocast_context,
    evaluate_localization,
    is_quiet,
    selection_score,
    val_thresholds,
)
from moana.train.records import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    FINAL_JSON,
    MANIFEST_JSON,
    METRICS_CSV,
    dataset_fingerprint,
    make_manifest,
    read_json,
    write_json,
    write_metrics_csv,
)

#: Config keys that may differ between a run and its resumption.
RESUMABLE_CHANGES = ("runtime.quiet", "runtime.device", "runtime.output_dir",
                     "data.num_workers", "data.data_root", "data.metadata_root", "data.mask_root",
                     "optim.epochs", "eval.batch_size", "description")


# --------------------------------------------------------------------------- data


@dataclass
class PreparedData:
    """Image folder and metadata split folders of a run's dataset."""

    config: TrainConfig
    image_root: Path
    split_dirs: dict[str, Path]
    mask_root: Path | None
    num_classes: int
    synthetic: dict[str, Any] | None = None

    def metadata(self, split: str):
        from moana.data.metadata import load_wsol_metadata

        return load_wsol_metadata(self.split_dirs[split])

    def dataset(self, split: str, *, train: bool = False):
        from moana.data.wsol import WSOLDataset

        d = self.config.data
        return WSOLDataset(self.image_root, self.metadata(split), train=train,
                           image_size=d.image_size, resize_size=d.resize_size,
                           crop_size=d.crop_size, mask_root=self.mask_root)

    def fingerprint(self) -> str:
        return dataset_fingerprint([self.split_dirs[s] for s in ("train", "val", "test")])


def _synthetic_knobs(config: TrainConfig) -> dict[str, Any]:
    knobs = dict(config.data.synthetic)
    knobs.setdefault("seed", 0)
    for key, value in knobs.items():
        if isinstance(value, list):
            knobs[key] = tuple(value)
    return knobs


def _check_synthetic(root: Path, knobs: dict[str, Any]) -> dict[str, Any]:
    """Settings of an existing synthetic dataset; warns when the config asked for others."""
    info_path = root / "synthetic.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{root} has metadata but no synthetic.json: it was not made by "
                                f"moana.data.synthetic; set data.dataset to its real name")
    made = json.loads(info_path.read_text())
    diffs = []
    for key, value in knobs.items():
        have = made.get(key)
        want = list(value) if isinstance(value, tuple) else value
        if key == "per_class" and isinstance(have, dict):
            have = {k: v for k, v in have.items() if k in (want or {})}
        if have != want:
            diffs.append(f"{key}: dataset has {have!r}, config asks {want!r}")
    if diffs:
        warnings.warn(f"using the existing synthetic dataset {root}, generated with other "
                      "settings than data.synthetic (" + "; ".join(diffs) + "); the run "
                      "records the dataset's own settings and fingerprint", stacklevel=3)
    return made


def prepare_data(config: TrainConfig, dist_info: DistInfo, quiet: bool = True) -> PreparedData:
    """Resolve the dataset paths; generate the synthetic benchmark when it is missing.

    ``data.dataset: synthetic`` with a ``data.data_root`` that holds no metadata yet: rank 0
    calls ``moana.data.synthetic.make_wsol_dataset(data_root, **data.synthetic)`` (seed from
    ``data.synthetic.seed``, default 0) and the other ranks wait.
    """
    d = config.data
    root = Path(d.data_root).expanduser()
    if d.dataset == "synthetic":
        knobs = _synthetic_knobs(config)
        metadata_root = Path(d.metadata_root) if d.metadata_root else root / "metadata"
        if not (metadata_root / d.splits["train"]).is_dir():
            if dist_info.is_main:
                from moana.data.synthetic import make_wsol_dataset

                if not quiet:
                    print(f"generating the synthetic benchmark in {root} ({knobs})")
                make_wsol_dataset(root, **knobs)
            barrier(dist_info)
        else:
            _check_synthetic(root, knobs)
        made = json.loads((root / "synthetic.json").read_text())
        synthetic_settings = {k: v for k, v in made.items() if k != "marks"}
        image_root = root / "images"
        split_dirs = {k: metadata_root / v for k, v in d.splits.items()}
        mask_root = Path(d.mask_root) if d.mask_root else image_root
    else:
        from moana.data.wsol import dataset_paths

        synthetic_settings = None
        split_dirs = {}
        image_root = root
        for key, split in d.splits.items():
            image_root, split_dirs[key] = dataset_paths(root, d.dataset, split,
                                                        metadata_root=d.metadata_root)
        mask_root = Path(d.mask_root) / d.dataset if d.mask_root else image_root
    for key, directory in split_dirs.items():
        if not directory.is_dir():
            raise FileNotFoundError(f"metadata of the {key} split not found: {directory} "
                                    f"(data.data_root={d.data_root}, "
                                    f"data.metadata_root={d.metadata_root})")
    if not image_root.is_dir():
        raise FileNotFoundError(f"image folder {image_root} does not exist "
                                f"(data.data_root={d.data_root})")
    prepared = PreparedData(config, image_root, split_dirs, mask_root, 0, synthetic_settings)
    num_classes = config.model.num_classes or prepared.metadata("train").num_classes
    prepared.num_classes = num_classes
    return prepared


# --------------------------------------------------------------------------- model


def build_from_config(config: TrainConfig, num_classes: int) -> nn.Module:
    from moana.models.build import build_model

    m = config.model
    kwargs = dict(method=m.method, num_classes=num_classes, pretrained=m.pretrained,
                  attention_kw=dict(m.attention_kw) or None, insert_at=m.insert_at,
                  large_feature_map=m.large_feature_map, **m.extra)
    return build_model(m.arch, **kwargs)


def resolve_device(name: str, dist_info: DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"runtime.device={name!r} but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", dist_info.local_rank)
    return device


def _derived_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


# --------------------------------------------------------------------------- training


class DivergedError(ValueError):
    """The training loss became NaN or infinite."""


@dataclass
class _Run:
    config: TrainConfig
    run_dir: Path
    dist: DistInfo
    device: torch.device
    quiet: bool

    @property
    def main(self) -> bool:
        return self.dist.is_main


def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    run: _Run, epoch: int, log_every: int = 10) -> dict[str, float]:
    """One pass over the training data; loss and top-1 accuracy summed over all ranks.

    Running sums stay on the device (no host sync per step); they are read, and the loss
    checked for NaN/inf, every ``log_every`` steps and at the end.
    """
    cfg = run.config
    model.train()
    totals = torch.zeros(3, dtype=torch.float64, device=run.device)  # loss sum, correct, count
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.optim.epochs}", leave=False,
               disable=run.quiet or not run.main, dynamic_ncols=True)

    def check(step: int) -> tuple[float, float, float]:
        loss_sum, correct, count = totals.tolist()
        if not np.isfinite(loss_sum):
            raise DivergedError(f"the training loss became {loss_sum} by epoch {epoch + 1}, "
                                f"step {step}; lower optim.lr / optim.backbone_lr")
        return loss_sum, correct, count

    step = 0
    for step, (images, labels, _) in enumerate(bar):
        images = images.to(run.device, non_blocking=True)
        if cfg.runtime.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        labels = torch.as_tensor(labels).to(run.device, non_blocking=True)
        with autocast_context(run.device, cfg.runtime.amp):
            logits = model(images)
            loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            totals[0] += loss.detach().double() * labels.shape[0]
            totals[1] += (logits.argmax(1) == labels).sum()
            totals[2] += labels.shape[0]
        if step % log_every == 0:
            loss_sum, correct, count = check(step)
            bar.set_postfix(loss=f"{loss_sum / count:.3f}", acc=f"{100 * correct / count:.1f}")
    bar.close()
    check(step)
    loss_sum, correct, count = all_reduce_sum(totals.tolist(), run.dist, run.device)
    return {"train_loss": loss_sum / max(count, 1), "train_top1": 100.0 * correct / max(count, 1),
            "train_images": int(count)}


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


def _default_run_dir(config: TrainConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(config.runtime.output_dir) / f"{config.name}-seed{config.runtime.seed}-{stamp}"


def fit(config: TrainConfig | str | Path, *, run_dir: Path | str | None = None,
        resume: bool = False, quiet: bool | None = None,
        overrides: list[str] | None = None) -> dict[str, Any]:
    """Train, select on val, report on test; returns the final metrics (also on disk).

    Args:
        config: a TrainConfig, or a shipped config name / YAML path (with ``overrides``).
        run_dir: where the run is recorded (default ``<runtime.output_dir>/<name>-seed<s>-<time>``).
        resume: continue the run in ``run_dir`` from its last checkpoint.
        quiet: no progress bars (default: ``runtime.quiet``, or env ``CI=true``).

    Under ``torchrun`` (WORLD_SIZE > 1) every process calls ``fit``; rank 0 writes.
    """
    if not isinstance(config, TrainConfig):
        config = load_config(config, overrides)
    elif overrides:
        raise ValueError("overrides apply to a config name or path, not to a TrainConfig")
    config.validate()
    already = torch.distributed.is_available() and torch.distributed.is_initialized()
    dist_info = init_distributed(config.runtime.device)
    try:
        return _fit(config, run_dir, resume, quiet, dist_info)
    finally:
        if not already:
            cleanup()


def _fit(config: TrainConfig, run_dir: Path | str | None, resume: bool, quiet: bool | None,
         dist_info: DistInfo) -> dict[str, Any]:
    started = time.time()
    device = resolve_device(config.runtime.device, dist_info)
    quiet_flag = is_quiet(quiet, config.runtime.quiet)
    if resume and run_dir is None:
        raise ValueError("resume needs the run directory to continue")
    run_dir = Path(run_dir) if run_dir is not None else None
    if run_dir is None:
        run_dir = Path(broadcast_object(str(_default_run_dir(config)), dist_info))
    run = _Run(config, run_dir, dist_info, device, quiet_flag)
    ckpt_dir = run_dir / CHECKPOINT_DIR
    last_path, best_path = ckpt_dir / "last.pt", ckpt_dir / "best.pt"

    resumed_changes: list[str] = []
    if resume:
        saved_path = run_dir / CONFIG_FILE
        if not saved_path.is_file():
            raise FileNotFoundError(f"cannot resume: {saved_path} does not exist")
        saved = load_config(saved_path)
        resumed_changes = _config_diff(saved.to_dict(), config.to_dict())
        changed = [k for k in resumed_changes if k not in RESUMABLE_CHANGES]
        if changed:
            raise ValueError(f"cannot resume {run_dir} with a different config: "
                             f"{', '.join(changed)} changed (only {', '.join(RESUMABLE_CHANGES)} "
                             f"may change)")
        if not last_path.is_file():
            raise FileNotFoundError(f"cannot resume: {last_path} does not exist (the run "
                                    f"stopped before its first epoch ended; start it again)")
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"run directory {run_dir} already exists and is not empty; "
                         f"use resume (moana train --resume {run_dir}) or another run dir")
    barrier(dist_info)

    if config.runtime.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    seed = config.runtime.seed
    seed_everything(_derived_seed(seed, dist_info.rank))

    data = prepare_data(config, dist_info, quiet=quiet_flag)
    fingerprint = data.fingerprint()
    train_set = data.dataset("train", train=True)
    val_set = data.dataset("val")
    model = build_from_config(config, data.num_classes).to(device)
    if config.runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    o = config.optim
    optimizer = torch.optim.SGD(unwrap(model).param_groups(o.lr, o.backbone_lr), lr=o.lr,
                                momentum=o.momentum, weight_decay=o.weight_decay,
                                nesterov=o.nesterov)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(o.milestones),
                                                     gamma=o.gamma)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {}
    start_epoch = 0
    manifest: dict[str, Any]
    if resume:
        state = load_checkpoint(last_path, map_location=device)
        load_model_weights(model, state, last_path)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = list(state["history"])
        best = dict(state["best"])
        start_epoch = int(state["epoch"])
        if state.get("rng") is not None:
            restore_rng_state(state["rng"])
        manifest = read_json(run_dir / MANIFEST_JSON) if (run_dir / MANIFEST_JSON).is_file() \
            else {}
        recorded = manifest.get("dataset_fingerprint")
        if recorded not in (None, fingerprint):
            raise ValueError(f"cannot resume {run_dir}: the dataset changed since the run started "
                             f"(fingerprint {fingerprint[:12]} != {recorded[:12]})")
    else:
        manifest = make_manifest(seed=seed, device=device, world_size=dist_info.world_size,
                                 fingerprint=fingerprint, data_root=str(data.image_root))
        manifest["synthetic_dataset"] = data.synthetic
        if dist_info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, run_dir / CONFIG_FILE)
    if dist_info.is_main:
        manifest.setdefault("sessions", []).append(
            {"started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "start_epoch": start_epoch,
             "resumed": bool(resume), "config_changes": resumed_changes, "wall_time_s": 0.0})
        if resumed_changes:  # e.g. more epochs: the run's config is the one that ran last
            save_config(config, run_dir / CONFIG_FILE)
        manifest["status"] = "running"
        write_json(run_dir / MANIFEST_JSON, manifest)

    def save_manifest(status: str) -> None:
        if not dist_info.is_main:
            return
        session = manifest["sessions"][-1]
        session["wall_time_s"] = time.time() - started
        session["end_epoch"] = len(history)
        manifest["wall_time_s"] = sum(s.get("wall_time_s", 0.0) for s in manifest["sessions"])
        manifest["status"] = status
        if status == "completed":
            manifest["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_json(run_dir / MANIFEST_JSON, manifest)

    if dist_info.enabled:
        model = DistributedDataParallel(model,
                                        device_ids=[device.index] if device.type == "cuda"
                                        else None)
    per_rank_batch = o.batch_size // dist_info.world_size
    if per_rank_batch * dist_info.world_size != o.batch_size:
        raise ValueError(f"optim.batch_size={o.batch_size} is not divisible by the "
                         f"{dist_info.world_size} processes")
    generator = torch.Generator()
    if dist_info.enabled:
        sampler: Any = DistributedSampler(train_set, num_replicas=dist_info.world_size,
                                          rank=dist_info.rank, shuffle=True, seed=seed)
    else:
        sampler = RandomSampler(train_set, generator=generator)
    loader = DataLoader(train_set, batch_size=per_rank_batch, sampler=sampler,
                        num_workers=config.data.num_workers, generator=generator,
                        worker_init_fn=_worker_init, pin_memory=device.type == "cuda")
    eval_kw = dict(device=device, eval_cfg=config.eval, image_size=config.data.image_size,
                   batch_size=config.eval.batch_size or per_rank_batch,
                   num_workers=config.data.num_workers, mask_root=data.mask_root,
                   dist_info=dist_info, amp=config.runtime.amp,
                   channels_last=config.runtime.channels_last, quiet=quiet_flag)

    for epoch in range(start_epoch, o.epochs):
        epoch_start = time.time()
        seed_everything(_derived_seed(seed, epoch, dist_info.rank))
        generator.manual_seed(_derived_seed(seed, epoch, 10**6))
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        lrs = {g.get("name", str(i)): g["lr"] for i, g in enumerate(optimizer.param_groups)}
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": lrs.get("new", o.lr),
                               "backbone_lr": lrs.get("backbone", o.backbone_lr)}
        row.update(train_one_epoch(model, loader, optimizer, run, epoch))
        scheduler.step()
        row["train_time_s"] = time.time() - epoch_start
        last_epoch = epoch + 1 == o.epochs
        if (epoch + 1) % config.eval.every == 0 or last_epoch:
            val = evaluate_localization(model, val_set, desc="val", **eval_kw)
            metric, score = selection_score(val, config.eval.select_by)
            row.update(_scalars({k: v for k, v in val.items() if k != "num_images"}, "val_"))
            row["selection_metric"] = metric
            is_best = not best or score > best["score"]
            row["is_best"] = is_best
            if is_best:
                best = {"epoch": epoch + 1, "metric": metric, "score": score,
                        "thresholds": val_thresholds(val), "val": _scalars(val, "")}
        row["epoch_time_s"] = time.time() - epoch_start
        history.append(row)
        if dist_info.is_main:
            if row.get("is_best"):
                save_checkpoint(best_path, model=model, epoch=epoch + 1, history=history,
                                best=best, config=config.to_dict(), rng=False)
            save_checkpoint(last_path, model=model, epoch=epoch + 1, optimizer=optimizer,
                            scheduler=scheduler, history=history, best=best,
                            config=config.to_dict())
            write_metrics_csv(run_dir / METRICS_CSV, history)
            save_manifest("running")
            if not quiet_flag:
                shown = {k: row[k] for k in ("train_loss", "train_top1", "val_top1_cls",
                                             "val_MaxBoxAccV2", "val_PxAP") if k in row}
                tqdm.write(f"epoch {epoch + 1}/{o.epochs} "
                           + " ".join(f"{k}={v:.3f}" for k, v in shown.items())
                           + (" *" if row.get("is_best") else ""))
        barrier(dist_info)

    final = _final_report(model, data, run, best, history, last_path, best_path, eval_kw)
    if dist_info.is_main:
        write_json(run_dir / FINAL_JSON, final)
        if history:
            write_metrics_csv(run_dir / METRICS_CSV, history)
        save_manifest("completed")
    barrier(dist_info)
    return final


def _final_report(model: nn.Module, data: PreparedData, run: _Run, best: dict[str, Any],
                  history: list[dict[str, Any]], last_path: Path, best_path: Path,
                  eval_kw: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the chosen checkpoint on test with the CAM thresholds chosen on val."""
    config = run.config
    which = config.eval.checkpoint
    path = best_path if which == "best" else last_path
    state = load_checkpoint(path, map_location=run.device)
    check_compatible(state, model, path)
    unwrap(model).load_state_dict(state["model"])
    if which == "best":
        val = dict(best.get("val", {}))
        thresholds = dict(best.get("thresholds", {}))
    else:
        last_val = next((r for r in reversed(history) if "selection_metric" in r), {})
        val = {k[4:]: v for k, v in last_val.items() if k.startswith("val_")}
        thresholds = val_thresholds(val)
    test = evaluate_localization(model, data.dataset("test"), thresholds=thresholds,
                                 desc="test", **eval_kw)
    curves = test.pop("box_curves", None)
    final = {
        "name": config.name,
        "arch": config.model.arch,
        "method": config.model.method,
        "dataset": config.data.dataset,
        "seed": config.runtime.seed,
        "split": "test",
        "checkpoint": which,
        "epoch": int(state["epoch"]),
        "selection_metric": best.get("metric"),
        "cam_normalization": config.eval.cam_normalization,
        "thresholds_from_val": thresholds,
        **test,
        "val": val,
    }
    if curves is not None:
        final["test_box_curves"] = curves
    return final
