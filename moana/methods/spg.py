"""SPG: Self-Produced Guidance (Zhang et al., ECCV 2018), as wsolevaluation builds it
(clovaai/wsolevaluation ``wsol/method/spg.py``, ``wsol/{vgg,resnet,inception}.py``).

Besides the CAM classifier (map ``feat_map``), two side branches ``SPG_B_1a`` / ``SPG_B_2a``
(3x3 conv + ReLU) on an earlier and a later backbone feature share ``SPG_B_shared`` (3x3 conv,
ReLU, 1x1 conv to one channel) and give ``logits_b1`` / ``logits_b2``; ``SPG_C`` (3x3 conv, ReLU,
1x1 conv to one channel) on the classifier's input gives ``logits_c``.  Self-produced guidance:

- ``attention``: the label's class map, bilinearly upsampled to the input size, min-max
  normalized (detached);
- ``fused_attention``: ``(sigmoid(up(b1)) + sigmoid(up(b2))) / 2`` (detached);
- a guidance mask from a map ``A`` and thresholds ``(high, low)``: 1 where ``A > high`` (when
  fewer than 30 pixels pass, ``A > 0.7 max A`` instead), 0 where ``A < low`` (wins over 1),
  ignored (255) elsewhere.

Loss: ``CE(logits) + BCE(up(b2), mask(attention; 1h, 1l)) + BCE(up(b1), mask(sigmoid(up(b2));
2h, 2l)) + BCE(up(c), mask(fused; 3h, 3l))``, each BCE with logits averaged over the pixels
that are not ignored.  CAM: the class map (as CAM).

Departures (documented): wsolevaluation upsamples to a fixed 224x224 (its crop size); here to
the input size (the same at 224).  A guidance mask with no valid pixel contributes 0 instead of
NaN.  The 30-pixel rule is kept at any input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from moana.methods.acol import normalize_maps
from moana.methods.loss import cross_entropy

__all__ = ["SPGMixin", "guidance_mask", "guidance_loss", "spg_side_modules"]

IGNORE = 255.0
MIN_FOREGROUND = 30


def spg_side_modules(
    b1_in: int, b2_in: int, width: int, c_in: int, c_width: int = 512
) -> dict[str, nn.Module]:
    """``SPG_B_1a``, ``SPG_B_2a``, ``SPG_B_shared``, ``SPG_C`` with wsolevaluation's key layout."""
    def conv_relu(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True))

    return {
        "SPG_B_1a": conv_relu(b1_in, width),
        "SPG_B_2a": conv_relu(b2_in, width),
        "SPG_B_shared": nn.Sequential(*conv_relu(width, width), nn.Conv2d(width, 1, 1)),
        "SPG_C": nn.Sequential(*conv_relu(c_in, c_width), nn.Conv2d(c_width, 1, 1)),
    }


def _up(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def guidance_mask(attention: Tensor, high: float, low: float) -> Tensor:
    """(B, 1, H, W) mask of 1 (foreground), 0 (background) and 255 (ignored) from ``attention``."""
    attention = attention.detach()
    fg = attention > high
    few = fg.flatten(1).sum(dim=1) < MIN_FOREGROUND
    peak = attention.flatten(1).amax(dim=1).view(-1, 1, 1, 1)
    fg = torch.where(few.view(-1, 1, 1, 1), attention > 0.7 * peak, fg)
    mask = torch.full_like(attention, IGNORE)
    mask[fg] = 1.0
    mask[attention < low] = 0.0
    return mask


def guidance_loss(logits: Tensor, guide: Tensor, high: float, low: float) -> Tensor:
    """BCE with logits of ``up(logits)`` against ``guidance_mask(guide)`` over valid pixels."""
    mask = guidance_mask(guide, high, low)
    up = _up(logits, tuple(guide.shape[-2:]))
    valid = mask < IGNORE
    if not bool(valid.any()):
        return up.sum() * 0.0
    return F.binary_cross_entropy_with_logits(up[valid].float(), mask[valid].float())


class SPGMixin:
    """SPG forward and loss for a CAMNet that defines ``spg_streams(x) -> (b1_in, b2_in, c_in,
    class_maps)``, the modules of :func:`spg_side_modules` and the SPG thresholds in
    ``method_kw``."""

    def spg_outputs(self, x: Tensor, labels: Tensor | None = None) -> dict[str, Tensor]:
        """SPG's training outputs (Zhang et al., ECCV 2018; clovaai/wsolevaluation
        ``wsol/method/spg.py``): logits (B, K) from the class maps, side-branch logits ``logits_b1``,
        ``logits_b2`` and ``logits_c`` (self-produced guidance maps at their own resolution), the
        normalized CAM of ``labels`` (default: argmax) upsampled to the input, ``attention``
        (B, 1, H, W) in [0, 1], and ``fused_attention`` (B, 1, H, W), the mean of the two
        sigmoid side maps."""
        b1_in, b2_in, c_in, maps = self.spg_streams(x)
        logits_b1 = self.SPG_B_shared(self.SPG_B_1a(b1_in))
        logits_b2 = self.SPG_B_shared(self.SPG_B_2a(b2_in))
        logits_c = self.SPG_C(c_in)
        logits = maps.mean(dim=(2, 3))
        labels = logits.argmax(dim=1) if labels is None else labels
        size = tuple(x.shape[-2:])
        picked = _up(maps.detach(), size)[torch.arange(maps.shape[0], device=maps.device), labels.long()]
        attention = normalize_maps(picked.unsqueeze(1))
        fused = (torch.sigmoid(_up(logits_b1.detach(), size))
                 + torch.sigmoid(_up(logits_b2.detach(), size))) / 2
        return {"logits": logits, "logits_b1": logits_b1, "logits_b2": logits_b2, "logits_c": logits_c,
                "attention": attention, "fused_attention": fused}

    def class_maps(self, x: Tensor) -> Tensor:
        """Class activation maps (B, K, h, w) from the main stream of :meth:`spg_streams`."""
        return self.spg_streams(x)[3]

    def forward(self, x: Tensor, labels: Tensor | None = None):
        """Training: the dict of :meth:`spg_outputs`; eval: logits (B, K)."""
        if not self.training:
            return self.class_maps(x).mean(dim=(2, 3))
        return self.spg_outputs(x, labels)

    def loss(self, outputs, targets: Tensor) -> Tensor:
        """Classification CE plus the three guidance BCE terms (plain CE when given logits)."""
        if not isinstance(outputs, dict):
            return cross_entropy(outputs, targets)
        kw = self.method_kw
        size = tuple(outputs["attention"].shape[-2:])
        b2i = torch.sigmoid(_up(outputs["logits_b2"].detach(), size))
        return (
            cross_entropy(outputs["logits"], targets)
            + guidance_loss(outputs["logits_b2"], outputs["attention"], kw["spg_threshold_1h"],
                            kw["spg_threshold_1l"])
            + guidance_loss(outputs["logits_b1"], b2i, kw["spg_threshold_2h"], kw["spg_threshold_2l"])
            + guidance_loss(outputs["logits_c"], outputs["fused_attention"], kw["spg_threshold_3h"],
                            kw["spg_threshold_3l"])
        )
