"""The WSOL per-batch step on the epoch loop (:class:`moana.engine.loop.EpochLoop`): the
forward with labels, the method's loss and batch augmentation, top-1 accuracy."""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from moana.engine.checkpoint import unwrap
from moana.engine.loop import LoopSettings, StepOutput
from moana.engine.runtime import derived_seed


def _accepts_labels(model: nn.Module) -> bool:
    params = inspect.signature(unwrap(model).forward).parameters.values()
    return any(p.name == "labels" or p.kind is p.VAR_KEYWORD for p in params)


class WSOLStep:
    """The WSOL per-batch step (the method-hook contract of the WSOL methods).

    ``outputs = model(images, labels=labels)`` (``labels``: (B,) long; models whose forward
    takes no ``labels`` are called with the images only), ``loss = unwrap(model).loss(outputs,
    targets)`` (cross entropy when the model has no ``loss``), with ``targets`` the labels or,
    for input-level methods, what ``moana.methods.batch_augmentation(method, **method_kw)``
    returns (HaS, CutMix); without that module no augmentation is applied. ``outputs`` may be
    logits (B, K) or a dict with ``"logits"``. Top-1 accuracy is counted against the labels.
    """

    def __init__(self, method: str, method_kw: dict[str, Any] | None = None, seed: int = 0):
        self.augment = _batch_augmentation(method, dict(method_kw or {}))
        self.seed = seed
        self.generator = torch.Generator()
        self._takes_labels: bool | None = None

    def set_epoch(self, epoch: int) -> None:
        """Reseed the batch augmentation's generator for ``epoch`` (resume-exact HaS/CutMix)."""
        self.generator.manual_seed(derived_seed(self.seed, epoch, 2 * 10**6))

    def __call__(self, model: nn.Module, batch: Any, settings: LoopSettings) -> StepOutput:
        images, labels = batch[0], batch[1]
        images = settings.images(images)
        labels = settings.to_device(labels)
        targets = labels
        if self.augment is not None:
            images, targets = self.augment(images, labels, self.generator)
            images = images.to(settings.device)
            targets = targets.to(settings.device)
        if self._takes_labels is None:
            self._takes_labels = _accepts_labels(model)
        outputs = model(images, labels=labels) if self._takes_labels else model(images)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs
        net = unwrap(model)
        if hasattr(net, "loss"):
            loss = net.loss(outputs, targets)
        else:
            loss = F.cross_entropy(logits.float(), targets)
        correct = (logits.detach().argmax(1) == labels).sum()
        return StepOutput(loss, int(labels.shape[0]), correct)


def _batch_augmentation(method: str, method_kw: dict[str, Any]):
    try:
        from moana.methods import batch_augmentation
    except ImportError:  # the methods package is optional here
        return None
    return batch_augmentation(method, **method_kw)
