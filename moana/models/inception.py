"""Inception-v3 with a CAM head, following wsolevaluation's modification (Choe et al., CVPR 2020).

torchvision Inception-v3 blocks (torchvision keys ``Conv2d_1a_3x3`` .. ``Mixed_6e``; Mixed_7*,
AuxLogits and fc dropped) with wsolevaluation's strides: ``Conv2d_1a_3x3`` padded by 1, both
max-pools ``3x3 / 2, padding 1, ceil_mode``, ``Mixed_6a`` with stride 1 (padding 1); with
``large_feature_map`` the map is 28x28 at 224 px, without it one extra ``3x3 / 2`` max-pool before
Mixed_6a (14x14).  Head as wsolevaluation's CAM: dropout 0.5, 3x3 conv 768 -> 1024 + ReLU,
dropout, 3x3 conv 1024 -> 1024 + ReLU, dropout, 1x1 ``classifier`` to K classes, GAP.
Like wsolevaluation, inputs use ImageNet mean/std (no torchvision ``transform_input``).

Attention placement (our choice): after the last backbone block ``Mixed_6e`` (768 channels),
before the new head convolutions — the analogue of ResNet's layer4.  ``insert_at="layer3"`` puts
it after ``Mixed_5d`` (288 channels), before ``Mixed_6a``.

WSOL methods (wsolevaluation's ``wsol/inception.py`` layouts; its ``SPG_A3_1b.0`` /
``SPG_A3_2b.0`` / ``SPG_A4`` are our ``head.1`` / ``head.4`` / ``classifier.0``):

- ``acol``: ``classifier_A`` / ``classifier_B`` on the Mixed_6e output (768 channels), no head;
- ``spg``: side branch 1 (288 -> 512) on the Mixed_5d output (after the extra max-pool without
  ``large_feature_map``), side branch 2 (768 -> 512) on the Mixed_6d output, ``SPG_C``
  (1024 -> 512 -> 1) on the head output;
- ``adl``: ADL layers after Mixed_5d, after Mixed_6e and after the head's second convolution
  (+ReLU); the head has no dropout.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.inception import BasicConv2d, InceptionA, InceptionB, InceptionC

from moana.methods.acol import acol_classifier
from moana.methods.adl import adl_layer
from moana.methods.spg import spg_side_modules
from moana.models.camnet import CAMNet

__all__ = ["InceptionCAM"]


class _InceptionBStride1(InceptionB):
    """torchvision ``InceptionB`` (same keys) with stride 1 and padding 1 everywhere."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(in_channels)
        for conv in (self.branch3x3.conv, self.branch3x3dbl_3.conv):
            conv.stride, conv.padding = (1, 1), (1, 1)

    def _forward(self, x: Tensor) -> list[Tensor]:
        branch3x3 = self.branch3x3(x)
        dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return [branch3x3, dbl, pool]


class InceptionCAM(CAMNet):
    """Inception-v3 CAM network (see module docstring)."""

    def __init__(
        self,
        *,
        method: str,
        num_classes: int,
        attention_kw: dict | None = None,
        insert_at: str = "layer4",
        large_feature_map: bool = True,
        method_kw: dict | None = None,
    ) -> None:
        super().__init__("inception_v3", method, num_classes, insert_at=insert_at, method_kw=method_kw)
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2, padding=1)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.large_feature_map = large_feature_map
        self.maxpool3 = (
            nn.Identity() if large_feature_map else nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)
        )
        self.Mixed_6a = _InceptionBStride1(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        for m in self.modules():  # torchvision's Inception3 initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.1, a=-2, b=2)
        self._add_attention(288 if insert_at == "layer3" else 768, attention_kw)
        adl = method == "adl"
        self.adl = nn.ModuleDict(
            {name: adl_layer(c, self.method_kw) for name, c in (("Mixed_5d", 288), ("Mixed_6e", 768))}
            if adl else {}
        )
        if method == "acol":
            self.classifier_A = acol_classifier(768, num_classes)
            self.classifier_B = acol_classifier(768, num_classes)
            self._new_modules += ["classifier_A", "classifier_B"]
            for name in self._new_modules:
                _xavier_init(getattr(self, name))
            return
        drop = (lambda: nn.Identity()) if adl else (lambda: nn.Dropout(0.5))
        self.head = nn.Sequential(
            drop(),
            nn.Conv2d(768, 1024, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            drop(),
            nn.Conv2d(1024, 1024, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            adl_layer(1024, self.method_kw) if adl else nn.Dropout(0.5),
        )
        self.classifier = nn.Sequential(nn.Conv2d(1024, num_classes, kernel_size=1))
        self._new_modules += ["head", "classifier"]
        if method == "spg":
            for name, module in spg_side_modules(288, 768, 512, 1024).items():
                setattr(self, name, module)
            self._new_modules += ["SPG_B_1a", "SPG_B_2a", "SPG_B_shared", "SPG_C"]
        for name in self._new_modules:  # wsolevaluation: xavier for the new layers
            if name != "attention":
                _xavier_init(getattr(self, name))

    def _after(self, x: Tensor, name: str) -> Tensor:
        return self.adl[name](x) if name in self.adl else x

    def _to_mixed_5d(self, x: Tensor) -> Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.maxpool1(x))))
        x = self._after(self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x))), "Mixed_5d")
        return self.maxpool3(self._attend(x, "layer3"))

    def trunk(self, x: Tensor) -> Tensor:
        """Backbone feature: the Mixed_6e output (after ADL / the attention module)."""
        x = self.Mixed_6a(self._to_mixed_5d(x))
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        return self._attend(self._after(x, "Mixed_6e"), "layer4")

    def spg_streams(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """SPG's streams (wsolevaluation ``wsol/inception.py``): the Mixed_5d output (SPG-B1 input),
        the Mixed_6d output (SPG-B2 input), the head features (SPG-C input) and the class maps
        (B, K, h, w)."""
        b1 = self._to_mixed_5d(x)
        b2 = self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(self.Mixed_6a(b1))))
        c = self.head(self.Mixed_6e(b2))
        return b1, b2, c, self.classifier(c)

    def feature_map(self, x: Tensor) -> Tensor:
        """Features before the classifier, (B, 1024, h, w) (h = w = 28 at 224 px)."""
        return self.head(self.trunk(x))


def _xavier_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
