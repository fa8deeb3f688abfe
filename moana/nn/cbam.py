"""CBAM: Convolutional Block Attention Module (Woo et al., ECCV 2018).

A baseline for MoANA (Sohn et al., Sci. Rep. 2023): a channel gate (shared MLP over average- and
max-pooled descriptors) followed by one (B, 1, H, W) spatial map shared by all channels.
"""

from __future__ import annotations

import torch
from torch import nn


class _ChannelGate(nn.Module):
    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        mx = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return x * torch.sigmoid(avg + mx)


class _SpatialGate(nn.Module):
    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"spatial kernel_size must be odd, got {kernel_size!r}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.bn(self.conv(desc)))


class CBAM(nn.Module):
    """Channel attention then spatial attention, both multiplicative (sigmoid gates)."""

    def __init__(
        self, channels: int, reduction: int = 16, spatial_kernel_size: int = 7, min_hidden: int = 8
    ) -> None:
        super().__init__()
        if reduction <= 0:
            raise ValueError(f"reduction must be positive, got {reduction!r}")
        self.channel_gate = _ChannelGate(channels, max(min_hidden, channels // reduction))
        self.spatial_gate = _SpatialGate(spatial_kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, H, W) -> same shape: channel gate, then spatial gate (Woo et al., ECCV 2018)."""
        return self.spatial_gate(self.channel_gate(x))
