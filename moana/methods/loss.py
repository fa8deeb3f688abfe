"""Cross entropy with hard or soft targets: the loss of every CAMNet (WSOL method hooks)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["cross_entropy"]


def cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross entropy with hard ``(B,)`` long or soft ``(B, K')`` float targets.

    Soft targets narrower than the ``K`` logits (``K' < K``) are padded with zeros (classes with
    zero target mass), so an input-level augmentation that does not know ``K`` stays exact.
    Raises ValueError on a shape mismatch.
    """
    logits = logits.float()
    if targets.dim() == 1:
        return F.cross_entropy(logits, targets.long())
    if targets.dim() != 2 or targets.shape[0] != logits.shape[0] or targets.shape[1] > logits.shape[1]:
        raise ValueError(f"targets of shape {tuple(targets.shape)} do not fit logits {tuple(logits.shape)}")
    if targets.shape[1] < logits.shape[1]:
        targets = F.pad(targets, (0, logits.shape[1] - targets.shape[1]))
    return F.cross_entropy(logits, targets.float())
