"""The WSSS training steps on the shared epoch loop (:class:`moana.engine.loop.EpochLoop`).

``train_cam``, ``train_irn`` and ``train_seg`` each provide a per-batch loss and an SGD
optimizer; :func:`train_with_loop` adds IRN's poly schedule stepped once per iteration
(``PolynomialLR``, the loop's ``scheduler_interval="step"``), the loop's settings (device,
AMP, channels-last, NaN/inf checks) and a resumable checkpoint folder
``<out_path>.partial/last.pt`` written after every epoch. A step that finds that folder resumes
from it (``overwrite`` starts again); it is removed once the step's output is written.

Seeding is the loop's: before epoch ``e`` the global RNGs (the data augmentation's ``random``,
numpy and torch) get ``derived_seed(seed, e, 0)`` and the loader's shuffling generator
``derived_seed(seed, e, 10**6)``, so a step is deterministic for a seed on the CPU and a
resumed step equals an uninterrupted one.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from moana.engine.checkpoint import load_checkpoint
from moana.engine.loop import BatchLoss, EpochLoop, LoopSettings
from moana.wsss._io import torch_save

log = logging.getLogger(__name__)


def poly_scheduler(optimizer: torch.optim.Optimizer, max_step: int, power: float = 0.9
                   ) -> torch.optim.lr_scheduler.PolynomialLR:
    """IRN's poly schedule (``PolyOptimizer``, jiwoon-ahn/irn ``misc/torchutils.py``: lr *
    (1 - step / max_step) ** 0.9 at step ``step < max_step``) as torch's PolynomialLR; step
    it once per iteration."""
    return torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=max(1, max_step),
                                                 power=power)


def partial_dir(out_path: Path | str) -> Path:
    """The resumable checkpoint folder of the step writing ``out_path``."""
    return Path(f"{out_path}.partial")


def train_with_loop(model: nn.Module, loader: Any, optimizer: torch.optim.Optimizer,
                    batch_loss: BatchLoss, settings: LoopSettings, *, epochs: int,
                    iterations: int, seed: int, generator: torch.Generator | None,
                    out_path: Path | str, overwrite: bool = False,
                    checkpoints: bool = True, name: str = "train") -> EpochLoop:
    """Run ``epochs`` epochs of ``batch_loss`` with the poly schedule over ``iterations``.

    Resumes from ``partial_dir(out_path)/last.pt`` when present, written with the same
    ``epochs``, ``iterations``, ``seed`` and ``len(loader)`` (else starts again), and
    ``overwrite`` is false;
    ``checkpoints=False`` writes no checkpoint (and resumes nothing). Returns the finished
    loop (``loop.history``: one row per epoch with ``train_loss``; ``loop.start_epoch``:
    the epochs restored from the checkpoint). Raises ValueError for an unknown ``amp``.
    """
    if settings.amp not in ("none", "bf16"):
        raise ValueError(f"amp must be 'none' or 'bf16', got {settings.amp!r}")
    folder = partial_dir(out_path) if checkpoints else None
    if folder is not None and folder.exists() and (overwrite or not folder.is_dir()):
        _remove(folder)
    scheduler = poly_scheduler(optimizer, iterations)

    def report(row: dict[str, Any], history: list[dict[str, Any]]) -> None:
        log.info("%s epoch %d/%d loss %.4f", name, row["epoch"], epochs, row["train_loss"])

    plan = {"epochs": epochs, "iterations": iterations, "seed": seed,
            "first_epoch_batches": len(loader)}
    loop = EpochLoop(model, loader, optimizer, scheduler, batch_loss, settings, epochs=epochs,
                     checkpoint_dir=folder, seed=seed, generator=generator,
                     on_epoch_end=report, checkpoint_config=plan, scheduler_interval="step")
    if loop.last_path is not None and loop.last_path.is_file():
        if load_checkpoint(loop.last_path)["config"] == plan:
            log.info("%s: resumed after epoch %d", name, loop.resume())
        else:
            log.warning("%s: %s was written with another epoch plan or seed; starting again",
                        name, loop.last_path)
            _remove(folder)
    loop.run()
    return loop


def save_result(out_path: Path | str, payload: dict[str, Any]) -> None:
    """Write the step's output atomically, then remove its resumable checkpoint folder."""
    torch_save(Path(out_path), payload)
    _remove(partial_dir(out_path))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)  # a single-file checkpoint of an older version
