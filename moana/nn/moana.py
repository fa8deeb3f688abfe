"""MoANA: Module of Axis-based Nexus Attention.

Sohn, Jeon, Jung, Kang, Suk, "Module of Axis-based Nexus Attention for weakly supervised object
localization", Scientific Reports 13 (2023).  The module pools the feature map along each axis,
runs a 1-D convolution per axis, normalises (BatchNorm) and squashes (sigmoid) each axis
descriptor, and sums the three descriptors into an attention map ``M`` in ``[0, 3]``:

    y_c = sigmoid(bn1(conv_c(mean_{H,W} x)))     (B, C, 1, 1)   conv over the channel vector
    y_h = sigmoid(bn2(conv_h(mean_W x)))         (B, C, H, 1)   conv along H, channels mixed
    y_w = sigmoid(bn3(conv_w(mean_H x)))         (B, C, 1, W)   conv along W, channels mixed
    M   = y_c + y_h + y_w                        (B, C, H, W)   by broadcasting
    out = x * (a + b * M)

with ``(a, b) = (1, 1)`` in the WSOL code and ``(0.35, 0.65)`` in the WSSS code.  Parameter
names follow the official implementation so that its checkpoints load unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["MoANA", "CALIBRATIONS"]

#: Named calibrations ``out = x * (a + b * M)``.
CALIBRATIONS: dict[str, tuple[float, float]] = {
    "wsol": (1.0, 1.0),
    "wsss": (0.35, 0.65),
}

def _parse_calibration(calibration: str | Sequence[float]) -> tuple[float, float]:
    if isinstance(calibration, str):
        key = calibration.lower()
        if key not in CALIBRATIONS:
            raise ValueError(
                f"unknown calibration {calibration!r}; use one of {sorted(CALIBRATIONS)} or a "
                "pair (a, b) meaning x * (a + b * M), e.g. (0, 1) for x * M"
            )
        return CALIBRATIONS[key]
    try:
        a, b = (float(v) for v in calibration)
    except (TypeError, ValueError):
        raise ValueError(
            f"calibration must be 'wsol', 'wsss' or a pair of numbers (a, b), got {calibration!r}"
        ) from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"calibration values must be finite, got {calibration!r}")
    return a, b


def _parse_axes(axes: str) -> str:
    if not isinstance(axes, str):
        raise ValueError(f"axes must be a string made of 'c', 'h', 'w', got {axes!r}")
    letters = axes.lower()
    unknown = sorted(set(letters) - set("chw"))
    if unknown:
        raise ValueError(f"unknown axes {unknown} in {axes!r}; use a non-empty subset of 'chw'")
    if not letters:
        raise ValueError("axes must be a non-empty subset of 'chw', got ''")
    if len(set(letters)) != len(letters):
        raise ValueError(f"axes {axes!r} repeats a letter")
    return "".join(a for a in "chw" if a in letters)


class MoANA(nn.Module):
    """Axis-based nexus attention (Sohn et al., 2023) for a (B, C, H, W) feature map.

    Args:
        channels: number of channels ``C`` of the input.
        kernel_size: odd length of the three 1-D convolutions (official: 3).
        calibration: ``"wsol"`` -> ``x * (1 + M)``, ``"wsss"`` -> ``x * (0.35 + 0.65 M)``,
            or a pair ``(a, b)`` -> ``x * (a + b M)`` (``(0, 1)`` gives ``x * M``).
        axes: non-empty subset of ``"chw"`` (ablation); absent branches have no parameters
            and ``M`` lies in ``[0, len(axes)]``.
        axis_conv: ``"full"`` (official: ``Conv1d(C, C, k)`` along H and W, about 25 M
            parameters at C = 2048) or ``"depthwise"`` (``groups=C``, ``C * k`` parameters).

    Set ``record_attention = True`` to keep the last forward's detached descriptors in
    ``last_attention`` (keys ``"c"``, ``"h"``, ``"w"`` for the present axes and ``"map"``).
    Note: like the official code, BatchNorm on the channel descriptor needs a batch of at least
    two images in training mode.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        calibration: str | Sequence[float] = "wsol",
        axes: str = "chw",
        axis_conv: str = "full",
    ) -> None:
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels <= 0:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        if (
            isinstance(kernel_size, bool)
            or not isinstance(kernel_size, int)
            or kernel_size <= 0
            or kernel_size % 2 == 0
        ):
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}")
        if axis_conv not in ("full", "depthwise"):
            raise ValueError(f"axis_conv must be 'full' or 'depthwise', got {axis_conv!r}")
        self.channels = channels
        self.kernel_size = kernel_size
        self.axes = _parse_axes(axes)
        self.axis_conv = axis_conv
        self.calibration = _parse_calibration(calibration)
        self.record_attention = False
        self.last_attention: dict[str, Tensor] | None = None

        pad = (kernel_size - 1) // 2
        groups = channels if axis_conv == "depthwise" else 1
        if "c" in self.axes:
            self.conv_c = nn.Conv1d(1, 1, kernel_size, padding=pad, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
        if "h" in self.axes:
            self.conv_h = nn.Conv1d(
                channels, channels, kernel_size, padding=pad, groups=groups, bias=False
            )
            self.bn2 = nn.BatchNorm2d(channels)
        if "w" in self.axes:
            self.conv_w = nn.Conv1d(
                channels, channels, kernel_size, padding=pad, groups=groups, bias=False
            )
            self.bn3 = nn.BatchNorm2d(channels)

    def axis_descriptors(self, x: Tensor) -> dict[str, Tensor]:
        """Sigmoid descriptors of the present axes: c (B,C,1,1), h (B,C,H,1), w (B,C,1,W)."""
        self._check_input(x)
        out: dict[str, Tensor] = {}
        if "c" in self.axes:
            y = x.mean(dim=(2, 3))  # (B, C)
            y = self.conv_c(y.unsqueeze(1)).squeeze(1)  # 1-D conv across channels
            out["c"] = torch.sigmoid(self.bn1(y[:, :, None, None]))
        if "h" in self.axes:
            y = self.conv_h(x.mean(dim=3))  # (B, C, H)
            out["h"] = torch.sigmoid(self.bn2(y.unsqueeze(3)))
        if "w" in self.axes:
            y = self.conv_w(x.mean(dim=2))  # (B, C, W)
            out["w"] = torch.sigmoid(self.bn3(y.unsqueeze(2)))
        return out

    def attention_map(self, x: Tensor) -> Tensor:
        """The summed attention map ``M`` (B, C, H, W), values in ``[0, len(axes)]``."""
        parts = self.axis_descriptors(x)
        return self._sum(parts, x)

    @staticmethod
    def _sum(parts: dict[str, Tensor], x: Tensor) -> Tensor:
        total = torch.zeros((), dtype=x.dtype, device=x.device)
        for value in parts.values():
            total = total + value
        return total.expand_as(x)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` (B, C, H, W) -> same shape: ``x * (a + b * attmap)`` with ``attmap`` the combined
        channel/height/width axis attention and ``(a, b)`` the calibration (Sohn et al., Sci. Rep.
        2023; ku-milab/MoANA).  With ``record_attention`` the axis attentions and the map are kept in
        ``last_attention``."""
        parts = self.axis_descriptors(x)
        attmap = self._sum(parts, x)
        if self.record_attention:
            record = {k: v.detach() for k, v in parts.items()}
            record["map"] = attmap.detach()
            self.last_attention = record
        a, b = self.calibration
        return x * (a + b * attmap)

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f"MoANA expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        if x.shape[1] != self.channels:
            raise ValueError(
                f"MoANA was built for {self.channels} channels but the input has {x.shape[1]} "
                f"(shape {tuple(x.shape)})"
            )
        if self.training:
            # BatchNorm in training needs more than one value per channel: B for bn1 (on the
            # (B, C, 1, 1) channel descriptor), B*H for bn2 and B*W for bn3.
            per_channel = {"c": x.shape[0], "h": x.shape[0] * x.shape[2],
                           "w": x.shape[0] * x.shape[3]}
            if any(per_channel[a] < 2 for a in self.axes):
                raise ValueError(
                    f"MoANA's BatchNorm needs a batch of at least 2 in training mode, got input "
                    f"of shape {tuple(x.shape)}; use a batch size >= 2 (drop_last=True avoids a "
                    "last batch of one) or call model.eval() for a single image"
                )

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, kernel_size={self.kernel_size}, axes={self.axes!r}, "
            f"axis_conv={self.axis_conv!r}, calibration={self.calibration}"
        )
