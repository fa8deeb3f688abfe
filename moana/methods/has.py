"""Hide-and-Seek (HaS; Singh & Lee, ICCV 2017, "Hide-and-Seek: forcing a network to be
meticulous for weakly-supervised object and action localization"), as wsolevaluation applies it
(clovaai/wsolevaluation, ``wsol/method/has.py`` and ``main.py``).

The image is cut into square patches of ``grid_size`` pixels (the last row/column may be
smaller); each patch of each image is hidden, independently, with probability ``drop_rate`` by
setting all channels to 0 (on the normalized input, i.e. the dataset mean colour).
wsolevaluation iterates over ``range(width)`` for the height axis as well, which is only
equivalent for square inputs (its 224x224 crops); here rows and columns follow H and W.
"""

from __future__ import annotations

import math

import torch
from torch import Generator, Tensor

__all__ = ["HideAndSeek", "hide_patches", "patch_keep_mask"]


def patch_keep_mask(batch: int, height: int, width: int, grid_size: int, drop_rate: float,
                    generator: Generator | None = None) -> Tensor:
    """(B, H, W) float mask: 0 on hidden patches, 1 elsewhere (one draw per patch)."""
    rows, cols = math.ceil(height / grid_size), math.ceil(width / grid_size)
    device = generator.device if generator is not None else "cpu"
    draws = torch.rand(batch, rows, cols, generator=generator, device=device)
    keep = (draws > drop_rate).float()  # hidden when u <= drop_rate, as wsolevaluation
    keep = keep.repeat_interleave(grid_size, dim=1).repeat_interleave(grid_size, dim=2)
    return keep[:, :height, :width]


def hide_patches(images: Tensor, grid_size: int = 4, drop_rate: float = 0.5,
                 generator: Generator | None = None) -> Tensor:
    """Return a copy of ``images`` (B, C, H, W) with random ``grid_size``-pixel patches set to 0.

    ``grid_size = 0`` returns the images unchanged (wsolevaluation's switch).  Raises ValueError
    for a negative grid or a rate outside [0, 1]."""
    if isinstance(grid_size, bool) or int(grid_size) != grid_size or grid_size < 0:
        raise ValueError(f"HaS grid_size must be a non-negative int (pixels), got {grid_size!r}")
    if not 0.0 <= drop_rate <= 1.0:
        raise ValueError(f"HaS drop_rate must be in [0, 1], got {drop_rate!r}")
    if grid_size == 0:
        return images
    b, _, h, w = images.shape
    keep = patch_keep_mask(b, h, w, int(grid_size), float(drop_rate), generator)
    return images * keep.to(images.device, images.dtype).unsqueeze(1)


class HideAndSeek:
    """The trainer's batch hook: ``(images, labels, generator) -> (hidden images, labels)``."""

    def __init__(self, grid_size: int = 4, drop_rate: float = 0.5) -> None:
        hide_patches(torch.zeros(1, 1, 1, 1), grid_size, drop_rate)  # validate early
        self.grid_size = int(grid_size)
        self.drop_rate = float(drop_rate)

    def __call__(self, images: Tensor, labels: Tensor, generator: Generator | None = None):
        return hide_patches(images, self.grid_size, self.drop_rate, generator), labels

    def __repr__(self) -> str:
        return f"HideAndSeek(grid_size={self.grid_size}, drop_rate={self.drop_rate})"
