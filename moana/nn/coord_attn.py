"""Coordinate attention (Hou, Zhou, Feng, "Coordinate Attention for Efficient Mobile Network
Design", CVPR 2021).

A baseline for MoANA (Sohn et al., Sci. Rep. 2023): like MoANA's height and width branches it pools
along each spatial axis, but it has no separate channel branch and combines the two gates by
product, without MoANA's nexus or feature calibration.
"""

from __future__ import annotations

import torch
from torch import nn


class CoordAttention(nn.Module):
    """``x * a_h * a_w``: ``a_h`` (B, C, H, 1) and ``a_w`` (B, C, 1, W) from a shared encoder."""

    def __init__(self, channels: int, reduction: int = 32, min_hidden: int = 8) -> None:
        super().__init__()
        if reduction <= 0:
            raise ValueError(f"reduction must be positive, got {reduction!r}")
        hidden = max(min_hidden, channels // reduction)
        self.conv1 = nn.Conv2d(channels, hidden, kernel_size=1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.act = nn.Hardswish(inplace=True)
        self.conv_h = nn.Conv2d(hidden, channels, kernel_size=1)
        self.conv_w = nn.Conv2d(hidden, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, H, W) -> same shape, scaled by the (B, C, H, 1) and (B, C, 1, W) coordinate
        attentions (Hou et al., CVPR 2021)."""
        h, w = x.shape[2], x.shape[3]
        pooled_h = x.mean(dim=3, keepdim=True)  # (B, C, H, 1)
        pooled_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (B, C, W, 1)
        y = self.act(self.bn1(self.conv1(torch.cat([pooled_h, pooled_w], dim=2))))
        y_h, y_w = torch.split(y, [h, w], dim=2)
        a_h = torch.sigmoid(self.conv_h(y_h))  # (B, C, H, 1)
        a_w = torch.sigmoid(self.conv_w(y_w.transpose(2, 3)))  # (B, C, 1, W)
        return x * a_h * a_w
