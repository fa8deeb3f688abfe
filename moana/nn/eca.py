"""ECA: Efficient Channel Attention (Wang et al., ECA-Net, CVPR 2020).

A baseline for MoANA (Sohn et al., Sci. Rep. 2023): a (B, C, 1, 1) channel gate computed by a 1-D
convolution across the pooled channel descriptor, with kernel size adapted to ``channels``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA-Net's adaptive kernel size: the nearest odd number to ``|log2(C) + b| / gamma``."""
    k = int(abs((math.log2(channels) + b) / gamma))
    return k if k % 2 == 1 else k + 1


class ECA(nn.Module):
    """``x * sigmoid(conv1d_k(avgpool(x)))``; ``kernel_size=None`` uses :func:`eca_kernel_size`."""

    def __init__(
        self, channels: int, kernel_size: int | None = None, gamma: int = 2, b: int = 1
    ) -> None:
        super().__init__()
        k = eca_kernel_size(channels, gamma, b) if kernel_size is None else kernel_size
        if k <= 0 or k % 2 != 1:
            raise ValueError(f"ECA kernel_size must be a positive odd int, got {k!r}")
        self.kernel_size = k
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, H, W) -> same shape, scaled by the sigmoid of a 1-D convolution across the
        pooled channels (Wang et al., CVPR 2020)."""
        y = x.mean(dim=(2, 3))  # (B, C)
        y = self.conv(y.unsqueeze(1)).squeeze(1)  # 1-D conv across channels
        return x * torch.sigmoid(y)[:, :, None, None]
