"""Common interface of the backbones with a CAM head (Zhou et al., CVPR 2016, "Learning deep
features for discriminative localization").

Every network ends in a 1x1 convolution ``classifier`` producing class maps ``(B, K, h, w)``;
logits are their spatial mean, which equals ``fc(GAP(features))`` with the same weights, so the
CAM of class ``k`` is ``classifier(features)[:, k]`` (the bias only shifts it by a constant).
This is the layout of the official MoANA code.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from moana.nn import create_attention

__all__ = ["CAMNet", "make_attention"]


def make_attention(method: str, channels: int, attention_kw: dict | None) -> nn.Module | None:
    """``None`` for vanilla CAM, else the factory module ``method`` with ``attention_kw``."""
    if method == "cam":
        if attention_kw:
            raise ValueError(f"method 'cam' has no attention module; got attention_kw={attention_kw}")
        return None
    return create_attention(method, channels, **(attention_kw or {}))


class CAMNet(nn.Module):
    """Base class: subclasses implement :meth:`feature_map` (the map fed to ``self.classifier``)
    and set ``_new_modules`` (names of the layers trained from scratch) and
    ``_attention_names`` (names of the inserted attention modules)."""

    arch: str
    method: str
    num_classes: int
    classifier: nn.Sequential

    def __init__(self, arch: str, method: str, num_classes: int) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes <= 0:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.arch = arch
        self.method = method
        self.num_classes = num_classes
        self._new_modules: list[str] = []
        self._attention_names: list[str] = []

    # -- to implement -------------------------------------------------------------------
    def feature_map(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- CAM interface ------------------------------------------------------------------
    def class_maps(self, x: Tensor) -> Tensor:
        """Unnormalized class activation maps of all classes, (B, K, h, w)."""
        return self.classifier(self.feature_map(x))

    def forward_with_maps(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(logits (B, K), class_maps (B, K, h, w))`` from one pass."""
        maps = self.class_maps(x)
        return maps.mean(dim=(2, 3)), maps

    def forward(self, x: Tensor) -> Tensor:
        return self.class_maps(x).mean(dim=(2, 3))

    def cams(self, x: Tensor, labels: Tensor | Iterable[int]) -> Tensor:
        """CAM of ``labels[i]`` for image ``i``, unnormalized, (B, h, w)."""
        maps = self.class_maps(x)
        labels = torch.as_tensor(labels, device=maps.device).long().reshape(-1)
        if labels.numel() != maps.shape[0]:
            raise ValueError(f"got {labels.numel()} labels for a batch of {maps.shape[0]} images")
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels must be in [0, {self.num_classes}), got {labels.tolist()}")
        return maps[torch.arange(maps.shape[0], device=maps.device), labels]

    def attention_modules(self) -> list[nn.Module]:
        """The inserted attention modules (empty for ``method="cam"``)."""
        return [self.get_submodule(name) for name in self._attention_names]

    def new_parameter_names(self) -> set[str]:
        """Names of parameters trained from scratch (attention modules and CAM head)."""
        prefixes = tuple(f"{name}." for name in self._new_modules)
        return {n for n, _ in self.named_parameters() if n.startswith(prefixes)}

    def backbone_state_keys(self) -> list[str]:
        """state_dict keys of the (pretrainable) backbone."""
        prefixes = tuple(f"{name}." for name in self._new_modules)
        return [k for k in self.state_dict() if not k.startswith(prefixes)]

    def param_groups(self, lr: float, backbone_lr: float) -> list[dict]:
        """Optimizer groups: new layers (attention + classifier head) at ``lr``, the rest at
        ``backbone_lr``.  Empty groups are left out."""
        new = self.new_parameter_names()
        new_params, backbone_params = [], []
        for name, p in self.named_parameters():
            (new_params if name in new else backbone_params).append(p)
        groups = [
            {"params": backbone_params, "lr": backbone_lr, "name": "backbone"},
            {"params": new_params, "lr": lr, "name": "new"},
        ]
        return [g for g in groups if g["params"]]

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, method={self.method!r}, num_classes={self.num_classes}"
