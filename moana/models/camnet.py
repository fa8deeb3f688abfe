"""Common interface of the backbones with a CAM head (Zhou et al., CVPR 2016, "Learning deep
features for discriminative localization").

Every network ends in a 1x1 convolution ``classifier`` producing class maps ``(B, K, h, w)``;
logits are their spatial mean, which equals ``fc(GAP(features))`` with the same weights, so the
CAM of class ``k`` is ``classifier(features)[:, k]`` (the bias only shifts it by a constant).
This is the layout of the official MoANA code.

WSOL method hooks (shared by every backbone): ``forward(x, labels=None)`` (labels are ignored by
CAM-style networks; ACoL and SPG use them in training and return a dict with key ``"logits"``),
``loss(outputs, targets)`` (cross entropy with hard ``(B,)`` or soft ``(B, K)`` targets; methods
add their auxiliary terms) and ``forward_with_maps(x, labels=None)`` / ``cams(x, labels)`` (the
method's inference CAMs).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from moana.methods.loss import cross_entropy
from moana.nn import create_attention

__all__ = ["CAMNet", "make_attention", "cross_entropy", "ZOO_METHODS"]

#: WSOL methods of wsolevaluation (Choe et al., CVPR 2020) that are not attention modules.
ZOO_METHODS = ("has", "cutmix", "acol", "spg", "adl")
#: ``adl_last``: the ADL layer used as an attention module, placed once where MoANA sits.
SINGLE_ADL = "adl_last"


def make_attention(method: str, channels: int, attention_kw: dict | None) -> nn.Module | None:
    """``None`` for vanilla CAM and the zoo methods, else the factory module ``method``
    (``adl_last`` -> the ``adl`` layer) with ``attention_kw``."""
    if method == "cam" or method in ZOO_METHODS:
        if attention_kw:
            raise ValueError(f"method {method!r} has no attention module; got attention_kw={attention_kw}")
        return None
    name = "adl" if method == SINGLE_ADL else method
    return create_attention(name, channels, **(attention_kw or {}))


class CAMNet(nn.Module):
    """Base class: subclasses implement :meth:`feature_map` (the map fed to ``self.classifier``)
    and set ``_new_modules`` (names of the layers trained from scratch) and
    ``_attention_names`` (names of the inserted attention modules).

    The constructor checks ``num_classes`` and ``insert_at`` (``"layer3"`` or ``"layer4"``) and
    keeps the options of the WSOL method (``method_kw``, already validated by
    :func:`moana.methods.method_options`)."""

    arch: str
    method: str
    num_classes: int
    classifier: nn.Sequential

    def __init__(
        self,
        arch: str,
        method: str,
        num_classes: int,
        *,
        insert_at: str = "layer4",
        method_kw: dict | None = None,
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes <= 0:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if insert_at not in ("layer3", "layer4"):
            raise ValueError(f"insert_at must be 'layer3' or 'layer4' for {arch}, got {insert_at!r}")
        self.arch = arch
        self.method = method
        self.num_classes = num_classes
        self.insert_at = insert_at
        self.method_kw = dict(method_kw or {})
        self._new_modules: list[str] = []
        self._attention_names: list[str] = []

    def _add_attention(self, channels: int, attention_kw: dict | None) -> bool:
        """Create the attention module as ``self.attention`` (if the method has one)."""
        attention = make_attention(self.method, channels, attention_kw)
        if attention is None:
            return False
        self.attention = attention
        self._attention_names.append("attention")
        self._new_modules.append("attention")
        return True

    def _attend(self, x: Tensor, stage: str) -> Tensor:
        return self.attention(x) if self._attention_names and self.insert_at == stage else x

    # -- to implement -------------------------------------------------------------------
    def feature_map(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """The feature map fed to the 1x1-conv classifier, (B, C, h, w); defined by each backbone."""
        raise NotImplementedError

    # -- CAM interface ------------------------------------------------------------------
    def class_maps(self, x: Tensor) -> Tensor:
        """Unnormalized class activation maps of all classes, (B, K, h, w)."""
        return self.classifier(self.feature_map(x))

    def forward_with_maps(self, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(logits (B, K), class_maps (B, K, h, w))`` from one pass.  ``labels`` (B,) matter
        only to methods whose maps depend on the class (ACoL's erasing); else ignored."""
        maps = self.class_maps(x)
        return maps.mean(dim=(2, 3)), maps

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor | dict[str, Tensor]:
        """Logits (B, K); ``labels`` are accepted for the WSOL method hooks and ignored here."""
        return self.class_maps(x).mean(dim=(2, 3))

    def loss(self, outputs: Tensor | dict[str, Tensor], targets: Tensor) -> Tensor:
        """Cross entropy of ``outputs`` (logits or a dict with ``"logits"``) against hard (B,)
        or soft (B, K) ``targets``."""
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs
        return cross_entropy(logits, targets)

    def cams(self, x: Tensor, labels: Tensor | Iterable[int]) -> Tensor:
        """CAM of ``labels[i]`` for image ``i``, unnormalized, (B, h, w)."""
        labels = torch.as_tensor(labels, device=x.device).long().reshape(-1)
        if labels.numel() != x.shape[0]:
            raise ValueError(f"got {labels.numel()} labels for a batch of {x.shape[0]} images")
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels must be in [0, {self.num_classes}), got {labels.tolist()}")
        _, maps = self.forward_with_maps(x, labels)
        return maps[torch.arange(maps.shape[0], device=maps.device), labels]

    def attention_modules(self) -> list[nn.Module]:
        """The inserted attention modules (empty for ``method="cam"`` and the zoo methods)."""
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
