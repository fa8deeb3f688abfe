"""Squeeze-and-Excitation channel attention (Hu, Shen, Sun, "Squeeze-and-Excitation Networks",
CVPR 2018).

A baseline for MoANA (Sohn et al., Sci. Rep. 2023): one global (B, C, 1, 1) channel gate, i.e.
a coarse attention map with no spatial resolution.
"""

from __future__ import annotations

import torch
from torch import nn


class SqueezeExcitation(nn.Module):
    """``x * sigmoid(W2 relu(W1 avgpool(x)))``; hidden width max(min_hidden, C // reduction)."""

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 8) -> None:
        super().__init__()
        if reduction <= 0:
            raise ValueError(f"reduction must be positive, got {reduction!r}")
        hidden = max(min_hidden, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, H, W) -> same shape, scaled by the per-channel sigmoid gate (Hu et al., CVPR
        2018)."""
        gate = torch.sigmoid(self.fc2(self.relu(self.fc1(self.pool(x)))))
        return x * gate
