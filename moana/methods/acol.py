"""ACoL: Adversarial Complementary Learning (Zhang et al., CVPR 2018), as wsolevaluation builds
it (clovaai/wsolevaluation ``wsol/method/acol.py``, ``wsol/{vgg,resnet,inception}.py``).

Two classifiers ``classifier_A`` and ``classifier_B`` (3x3 conv C->1024, ReLU, 3x3 conv
1024->1024, ReLU, 1x1 conv 1024->K) read the backbone feature.  Branch A's map of the label
(the prediction when no label is given), min-max normalized per image and detached, erases the
feature where it is ``>= acol_threshold``; branch B classifies the erased feature.  Loss:
``CE(A) + CE(B)``.  Logits are branch A's.  CAM: the element-wise maximum of the two branches'
min-max normalized maps (per class map), at the label used for erasing.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from moana.methods.loss import cross_entropy

__all__ = ["ACoLMixin", "acol_classifier", "erase", "label_attention", "normalize_maps"]


def acol_classifier(in_channels: int, num_classes: int, width: int = 1024) -> nn.Sequential:
    """One ACoL branch (state_dict keys ``0``, ``2``, ``4`` as wsolevaluation's)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=False),
        nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=False),
        nn.Conv2d(width, num_classes, 1),
    )


def normalize_maps(maps: Tensor) -> Tensor:
    """Min-max normalization of every (b, k) map over its pixels (wsolevaluation's
    ``normalize_tensor``; a constant map gives NaN there and here)."""
    flat = maps.flatten(2)
    lo, hi = flat.amin(dim=2, keepdim=True), flat.amax(dim=2, keepdim=True)
    return ((flat - lo) / (hi - lo)).view_as(maps)


def label_attention(maps: Tensor, labels: Tensor) -> Tensor:
    """(B, 1, h, w) detached normalized map of each image's label."""
    picked = maps.detach()[torch.arange(maps.shape[0], device=maps.device), labels.long()]
    return normalize_maps(picked.unsqueeze(1))


def erase(feature: Tensor, attention: Tensor, threshold: float) -> Tensor:
    """``feature`` with every position where ``attention >= threshold`` set to 0; a NaN
    attention (a constant map) erases nothing, as in wsolevaluation's ``_erase_attention``."""
    return feature * (~(attention >= threshold)).to(feature.dtype)


class ACoLMixin:
    """ACoL forward and loss for a CAMNet that defines ``trunk(x)`` (the feature fed to both
    branches), ``classifier_A``, ``classifier_B`` and ``method_kw["acol_threshold"]``."""

    def acol_outputs(self, x: Tensor, labels: Tensor | None = None) -> dict[str, Tensor]:
        """ACoL's training outputs (Zhang et al., CVPR 2018; clovaai/wsolevaluation
        ``wsol/method/acol.py``): classifier A on the feature, erase where A's min-max
        normalized map of ``labels`` (default: A's argmax) is >= ``acol_threshold`` (a fraction),
        classifier B on the erased feature.  ``x`` (B, 3, H, W) -> dict of ``logits`` /
        ``logit_b`` (B, K) and ``feat_map_a`` / ``feat_map_b`` (B, K, h, w)."""
        feature = self.trunk(x)
        maps_a = self.classifier_A(feature)
        logits = maps_a.mean(dim=(2, 3))
        labels = logits.argmax(dim=1) if labels is None else labels
        attention = label_attention(maps_a, labels)
        maps_b = self.classifier_B(erase(feature, attention, self.method_kw["acol_threshold"]))
        return {"logits": logits, "logit_b": maps_b.mean(dim=(2, 3)),
                "feat_map_a": maps_a, "feat_map_b": maps_b}

    def forward(self, x: Tensor, labels: Tensor | None = None):
        """Training: the dict of :meth:`acol_outputs`; eval: classifier A's logits (B, K)."""
        if not self.training:
            return self.classifier_A(self.trunk(x)).mean(dim=(2, 3))
        return self.acol_outputs(x, labels)

    def forward_with_maps(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Logits of branch A and ``max(norm(A), norm(B))`` (B, K, h, w); B is erased with
        ``labels`` (the prediction when None), so the map is wsolevaluation's at that label."""
        out = self.acol_outputs(x, labels)
        maps = torch.maximum(normalize_maps(out["feat_map_a"]), normalize_maps(out["feat_map_b"]))
        return out["logits"], maps

    def class_maps(self, x: Tensor) -> Tensor:
        """Class activation maps (B, K, h, w) as :meth:`forward_with_maps` gives them (ACoL's fused
        A/B maps)."""
        return self.forward_with_maps(x)[1]

    def loss(self, outputs, targets: Tensor) -> Tensor:
        """``CE(logits) + CE(logit_b)``; plain CE when given logits only."""
        if not isinstance(outputs, dict):
            return cross_entropy(outputs, targets)
        return cross_entropy(outputs["logits"], targets) + cross_entropy(outputs["logit_b"], targets)
