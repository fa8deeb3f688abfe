"""The epoch loop shared by every training step: AMP, channels-last, NaN/inf checks, resume, DDP.

Public API (WSOL training in :mod:`moana.train.training` and the WSSS steps use it)::

    settings = LoopSettings(device, amp="none" | "bf16", channels_last=False,
                            dist_info=DistInfo(), quiet=True, log_every=10)
    loop = EpochLoop(model, loader, optimizer, scheduler, batch_loss, settings,
                     epochs=E, checkpoint_dir=Path | None, seed=0,
                     sampler=None, generator=None, validate=None, validate_every=1,
                     on_epoch_end=None, lr_columns=default_lr_columns, checkpoint_config=None,
                     scheduler_interval="epoch" | "step")
    loop.resume()          # only when continuing: restores model, optimizer, scheduler,
                           # history, best, epoch and RNG states from checkpoint_dir/last.pt
    history = loop.run()   # list of per-epoch rows (dicts)

* ``batch_loss(model, batch, settings) -> StepOutput(loss, count, correct=None)``: the per-batch
  forward and loss, called inside the autocast context (``settings.amp``). Move tensors with
  ``settings.to_device(x)`` / ``settings.images(x)`` (the latter applies channels-last). If
  ``batch_loss`` has a ``set_epoch(epoch)`` method the loop calls it before each epoch (e.g. to
  reseed an augmentation generator). :class:`moana.train.step.WSOLStep` is the WSOL one.
* ``scheduler``: any ``torch.optim.lr_scheduler`` stepped once per epoch, or None; IRN's poly
  schedule is ``torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=E, power=0.9)``.
  ``scheduler_interval="step"`` steps it after every optimizer step instead (IRN's per-iteration
  poly schedule: ``total_iters`` = iterations; the WSSS steps); its state is in ``last.pt``.
* ``validate(model, epoch) -> Validation | None``: after epochs ``validate_every`` apart and
  after the last; the loop keeps the best by ``Validation.score`` (higher is better) and writes
  ``checkpoint_dir/best.pt`` (no optimizer, no RNG) besides ``last.pt`` (everything).
* ``on_epoch_end(row, history)``: rank 0, after the checkpoints are written (records, logging).
* Seeding: before epoch ``e`` the global RNGs get ``derived_seed(seed, e, rank)`` and the
  loader's ``generator`` ``derived_seed(seed, e, 10**6)``; a ``DistributedSampler`` gets
  ``set_epoch(e)``. A resumed run therefore continues exactly as an uninterrupted one (CPU).
* NaN/inf: the running loss is read every ``log_every`` steps and at the end of the epoch; a
  non-finite value raises :class:`DivergedError` (a ValueError).
* DDP: wrap the model with :func:`wrap_ddp` after :meth:`EpochLoop.resume`; the epoch's sums are
  reduced over the ranks and only rank 0 writes checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from moana.engine.checkpoint import (load_checkpoint, load_model_weights, restore_rng_state,
                                     save_checkpoint)
from moana.engine.distributed import DistInfo, all_reduce_sum, barrier
from moana.engine.files import checkpoint_file
from moana.engine.runtime import autocast_context, derived_seed, seed_everything


class DivergedError(ValueError):
    """The training loss became NaN or infinite."""


@dataclass
class LoopSettings:
    """Where and how batches run (per process)."""

    device: torch.device
    amp: str = "none"
    channels_last: bool = False
    dist_info: DistInfo = field(default_factory=DistInfo)
    quiet: bool = True
    log_every: int = 10

    def to_device(self, x: Any) -> torch.Tensor:
        """``x`` (tensor or array-like, e.g. labels) as a tensor on the loop's device."""
        return torch.as_tensor(x).to(self.device, non_blocking=True)

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """Images to the device, in the channels-last memory format when asked."""
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


@dataclass
class StepOutput:
    """One batch: the loss to back-propagate, the number of items and (optionally) how many
    were classified correctly (a tensor, summed for the epoch's top-1 accuracy)."""

    loss: torch.Tensor
    count: int
    correct: torch.Tensor | None = None


@dataclass
class Validation:
    """A validation result: row entries for the epoch's record, the selection metric's name
    and score (higher is better) and what to keep in ``best`` when it is the best so far."""

    row: dict[str, Any]
    metric: str
    score: float
    keep: dict[str, Any] = field(default_factory=dict)


BatchLoss = Callable[[nn.Module, Any, LoopSettings], StepOutput]


def train_one_epoch(model: nn.Module, loader: Any, optimizer: torch.optim.Optimizer,
                    batch_loss: BatchLoss, settings: LoopSettings, *, epoch: int,
                    epochs: int, step_scheduler: Any = None) -> dict[str, float]:
    """One pass over ``loader``; returns train_loss (mean), train_top1 (%, when the step counts
    correct items) and train_images, summed over all ranks. ``step_scheduler`` (optional) is
    stepped after every optimizer step.

    Running sums stay on the device (no host sync per step); they are read, and the loss
    checked for NaN/inf, every ``settings.log_every`` steps and at the end (DivergedError).
    """
    model.train()
    totals = torch.zeros(3, dtype=torch.float64, device=settings.device)  # loss, correct, n
    counts_correct = False
    main = settings.dist_info.is_main
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", leave=False,
               disable=settings.quiet or not main, dynamic_ncols=True)

    def check(step: int) -> tuple[float, float, float]:
        loss_sum, correct, count = totals.tolist()
        if not np.isfinite(loss_sum):
            raise DivergedError(f"the training loss became {loss_sum} by epoch {epoch + 1}, "
                                f"step {step}; lower the learning rate")
        return loss_sum, correct, count

    step = 0
    for step, batch in enumerate(bar):
        with autocast_context(settings.device, settings.amp):
            out = batch_loss(model, batch, settings)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        if step_scheduler is not None:
            step_scheduler.step()
        with torch.no_grad():
            totals[0] += out.loss.detach().double() * out.count
            if out.correct is not None:
                counts_correct = True
                totals[1] += out.correct
            totals[2] += out.count
        if step % settings.log_every == 0:
            loss_sum, correct, count = check(step)
            shown = {"loss": f"{loss_sum / count:.3f}"}
            if counts_correct:
                shown["acc"] = f"{100 * correct / count:.1f}"
            bar.set_postfix(**shown)
    bar.close()
    check(step)
    loss_sum, correct, count = all_reduce_sum(totals.tolist(), settings.dist_info,
                                              settings.device)
    row = {"train_loss": loss_sum / max(count, 1)}
    if counts_correct:
        row["train_top1"] = 100.0 * correct / max(count, 1)
    row["train_images"] = int(count)
    return row


def default_lr_columns(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """``lr`` of the first parameter group, and ``<name>_lr`` of the other named groups."""
    out: dict[str, float] = {}
    for i, group in enumerate(optimizer.param_groups):
        out["lr" if i == 0 else f"{group.get('name', i)}_lr"] = group["lr"]
    return out


def wrap_ddp(model: nn.Module, device: torch.device, dist_info: DistInfo) -> nn.Module:
    """DistributedDataParallel around ``model`` when the run has several processes."""
    if not dist_info.enabled:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                   else None)


class EpochLoop:
    """Epochs of ``train_one_epoch`` with seeding, validation and selection, and checkpoints.

    See the module docstring for the arguments. State: ``history`` (rows), ``best`` (``epoch``,
    ``metric``, ``score`` and the validation's ``keep``), ``start_epoch``.
    """

    def __init__(self, model: nn.Module, loader: Any, optimizer: torch.optim.Optimizer,
                 scheduler: Any, batch_loss: BatchLoss, settings: LoopSettings, *,
                 epochs: int, checkpoint_dir: Path | str | None = None, seed: int = 0,
                 sampler: Any = None, generator: torch.Generator | None = None,
                 validate: Callable[[nn.Module, int], Validation | None] | None = None,
                 validate_every: int = 1,
                 on_epoch_end: Callable[[dict[str, Any], list[dict[str, Any]]], None] | None
                 = None,
                 lr_columns: Callable[[torch.optim.Optimizer], dict[str, float]]
                 = default_lr_columns,
                 checkpoint_config: dict[str, Any] | None = None,
                 scheduler_interval: str = "epoch") -> None:
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got "
                             f"{scheduler_interval!r}")
        self.scheduler_interval = scheduler_interval
        self.model, self.loader, self.optimizer = model, loader, optimizer
        self.scheduler, self.batch_loss, self.settings = scheduler, batch_loss, settings
        self.epochs, self.seed = epochs, seed
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.sampler, self.generator = sampler, generator
        self.validate, self.validate_every = validate, validate_every
        self.on_epoch_end, self.lr_columns = on_epoch_end, lr_columns
        self.checkpoint_config = checkpoint_config
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {}
        self.start_epoch = 0

    @property
    def last_path(self) -> Path | None:
        return checkpoint_file(self.checkpoint_dir, "last") if self.checkpoint_dir else None

    @property
    def best_path(self) -> Path | None:
        return checkpoint_file(self.checkpoint_dir, "best") if self.checkpoint_dir else None

    def resume(self) -> int:
        """Restore everything from ``last.pt``; returns the number of completed epochs.

        Raises FileNotFoundError when there is no ``last.pt`` (the run stopped before its first
        epoch ended) and ValueError when it holds another kind of model.
        """
        path = self.last_path
        if path is None or not path.is_file():
            raise FileNotFoundError(f"cannot resume: {path} does not exist (the run stopped "
                                    f"before its first epoch ended; start it again)")
        state = load_checkpoint(path, map_location=self.settings.device)
        load_model_weights(self.model, state, path)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.history = list(state["history"])
        self.best = dict(state["best"])
        self.start_epoch = int(state["epoch"])
        if state.get("rng") is not None:
            restore_rng_state(state["rng"])
        return self.start_epoch

    def one_epoch(self, epoch: int) -> dict[str, Any]:
        """Seed, train one epoch, step the scheduler; the epoch's row (no validation yet; ``lr``
        is the learning rate at the epoch's first step)."""
        started = time.time()
        rank = self.settings.dist_info.rank
        seed_everything(derived_seed(self.seed, epoch, rank))
        if self.generator is not None:
            self.generator.manual_seed(derived_seed(self.seed, epoch, 10**6))
        if isinstance(self.sampler, DistributedSampler):
            self.sampler.set_epoch(epoch)
        if hasattr(self.batch_loss, "set_epoch"):
            self.batch_loss.set_epoch(epoch)
        row: dict[str, Any] = {"epoch": epoch + 1, **self.lr_columns(self.optimizer)}
        per_step = self.scheduler_interval == "step"
        row.update(train_one_epoch(self.model, self.loader, self.optimizer, self.batch_loss,
                                   self.settings, epoch=epoch, epochs=self.epochs,
                                   step_scheduler=self.scheduler if per_step else None))
        if self.scheduler is not None and not per_step:
            self.scheduler.step()
        row["train_time_s"] = time.time() - started
        return row

    def validate_and_select(self, epoch: int, row: dict[str, Any]) -> bool:
        """Validate when due; record it in ``row``; True when this epoch is the best so far."""
        due = (epoch + 1) % self.validate_every == 0 or epoch + 1 == self.epochs
        if self.validate is None or not due:
            return False
        result = self.validate(self.model, epoch)
        if result is None:
            return False
        row.update(result.row)
        row["selection_metric"] = result.metric
        is_best = not self.best or result.score > self.best["score"]
        row["is_best"] = is_best
        if is_best:
            self.best = {"epoch": epoch + 1, "metric": result.metric, "score": result.score,
                         **result.keep}
        return is_best

    def save(self, epoch: int, is_best: bool) -> None:
        """Rank 0: ``best.pt`` when best, then ``last.pt`` (everything a resume needs)."""
        if self.checkpoint_dir is None or not self.settings.dist_info.is_main:
            return
        if is_best:
            save_checkpoint(self.best_path, model=self.model, epoch=epoch + 1,
                            history=self.history, best=self.best,
                            config=self.checkpoint_config, rng=False)
        save_checkpoint(self.last_path, model=self.model, epoch=epoch + 1,
                        optimizer=self.optimizer, scheduler=self.scheduler,
                        history=self.history, best=self.best, config=self.checkpoint_config)

    def run(self) -> list[dict[str, Any]]:
        """Train from ``start_epoch`` to ``epochs``; returns the history."""
        for epoch in range(self.start_epoch, self.epochs):
            started = time.time()
            row = self.one_epoch(epoch)
            is_best = self.validate_and_select(epoch, row)
            row["epoch_time_s"] = time.time() - started
            self.history.append(row)
            self.save(epoch, is_best)
            if self.on_epoch_end is not None and self.settings.dist_info.is_main:
                self.on_epoch_end(row, self.history)
            barrier(self.settings.dist_info)
        return self.history
