"""ADL: Attention-based Dropout Layer (Choe & Shim, CVPR 2019), as used by wsolevaluation
(Choe et al., CVPR 2020) as a WSOL baseline to MoANA (Sohn et al., Sci. Rep. 2023).

In training, a self-attention map ``A = mean_c(x)`` gives either an importance map
``sigmoid(A)`` or a drop mask ``A < drop_threshold * max(A)`` that hides the most discriminative
region; the drop mask is chosen with probability ``drop_rate`` (one draw per forward pass, as in
wsolevaluation). At evaluation the layer is the identity. It has no parameters.

Two uses: ``build_model(method="adl")`` is wsolevaluation's ADL network (several of these layers
at its insertion points, threshold 0.9 = its ``config.py`` default; :mod:`moana.methods.adl`);
``build_model(method="adl_last")`` (and ``create_attention("adl", C)``) is one layer placed where
MoANA sits, with this class's defaults (0.75, 0.8 = wsolevaluation's ``ADL`` class defaults).
"""

from __future__ import annotations

import torch
from torch import nn


class ADL(nn.Module):
    """Attention-based dropout; defaults are those of wsolevaluation's ``ADL`` class (0.75, 0.8)."""

    def __init__(self, channels: int, drop_rate: float = 0.75, drop_threshold: float = 0.8) -> None:
        super().__init__()
        if not 0.0 <= drop_rate <= 1.0:
            raise ValueError(f"ADL drop_rate must be in [0, 1], got {drop_rate!r}")
        if not 0.0 <= drop_threshold <= 1.0:
            raise ValueError(f"ADL drop_threshold must be in [0, 1], got {drop_threshold!r}")
        self.channels = channels
        self.drop_rate = float(drop_rate)
        self.drop_threshold = float(drop_threshold)

    def drop_mask(self, attention: torch.Tensor) -> torch.Tensor:
        """1 where ``attention`` is below ``drop_threshold`` times its per-image maximum."""
        peak = attention.flatten(1).amax(dim=1).view(-1, 1, 1, 1)
        return (attention < peak * self.drop_threshold).to(attention.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, H, W) -> same shape.  Training: multiply by the drop mask (with probability
        ``drop_rate``) or the sigmoid importance map of the channel-mean attention; eval: identity.
        Choe & Shim, CVPR 2019; clovaai/wsolevaluation ``wsol/method/adl.py``."""
        if not self.training:
            return x
        attention = x.mean(dim=1, keepdim=True)
        use_drop = bool(torch.rand((), device=x.device) < self.drop_rate)
        selected = self.drop_mask(attention) if use_drop else torch.sigmoid(attention)
        return x * selected

    def extra_repr(self) -> str:
        return f"drop_rate={self.drop_rate}, drop_threshold={self.drop_threshold}"
