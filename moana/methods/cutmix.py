"""CutMix (Yun et al., ICCV 2019, "CutMix: regularization strategy to train strong classifiers
with localizable features"), as wsolevaluation applies it (clovaai/wsolevaluation,
``wsol/method/cutmix.py`` and ``main.py``).

With probability ``prob`` (and ``beta > 0``): ``lam ~ Beta(beta, beta)``; a random permutation
pairs the images; a box of sides ``int(H * sqrt(1 - lam))`` x ``int(W * sqrt(1 - lam))`` centred
at a uniform pixel (clipped to the image) is pasted from the partner; ``lam`` is then set to the
uncovered fraction and the loss is ``lam * CE(a) + (1 - lam) * CE(b)``, which equals the cross
entropy with the soft target ``lam * onehot(a) + (1 - lam) * onehot(b)`` returned here.
Random numbers come from ``generator`` (wsolevaluation uses NumPy's global state).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Generator, Tensor

__all__ = ["CutMix", "cut_box", "cutmix"]


def cut_box(height: int, width: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """``(y1, y2, x1, x2)`` of the pasted box (wsolevaluation's ``rand_bbox``; its first axis is
    the tensor's dim 2)."""
    ratio = np.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    y1, y2 = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, height)
    x1, x2 = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, width)
    return int(y1), int(y2), int(x1), int(x2)


def cutmix(images: Tensor, labels: Tensor, *, beta: float = 1.0, prob: float = 1.0,
           num_classes: int | None = None, generator: Generator | None = None) -> tuple[Tensor, Tensor]:
    """Mix a batch; returns ``(images, targets)``.

    ``targets`` is (B, K) float (K = ``num_classes`` or ``labels.max() + 1``) when mixed, the
    unchanged (B,) labels when this batch is not mixed (probability ``1 - prob``).  The input
    tensor is not modified."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    rng = np.random.default_rng(seed)
    if beta <= 0 or not prob > rng.random():
        return images, labels
    lam = float(rng.beta(beta, beta))
    b, _, h, w = images.shape
    perm = torch.as_tensor(rng.permutation(b), device=images.device)
    y1, y2, x1, x2 = cut_box(h, w, lam, rng)
    mixed = images.clone()
    mixed[:, :, y1:y2, x1:x2] = images[perm, :, y1:y2, x1:x2]
    lam = 1.0 - (y2 - y1) * (x2 - x1) / (h * w)
    k = int(num_classes) if num_classes is not None else int(labels.max()) + 1
    onehot = F.one_hot(labels.long(), k).to(images.dtype)
    return mixed, lam * onehot + (1.0 - lam) * onehot[perm]


class CutMix:
    """The trainer's batch hook: ``(images, labels, generator) -> (mixed images, soft targets)``."""

    def __init__(self, beta: float = 1.0, prob: float = 1.0, num_classes: int | None = None) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"CutMix prob must be in [0, 1], got {prob!r}")
        self.beta, self.prob, self.num_classes = float(beta), float(prob), num_classes

    def __call__(self, images: Tensor, labels: Tensor, generator: Generator | None = None):
        return cutmix(images, labels, beta=self.beta, prob=self.prob, num_classes=self.num_classes,
                      generator=generator)

    def __repr__(self) -> str:
        return f"CutMix(beta={self.beta}, prob={self.prob})"
