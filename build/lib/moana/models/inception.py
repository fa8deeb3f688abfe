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
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.inception import BasicConv2d, InceptionA, InceptionB, InceptionC

from moana.models.camnet import CAMNet, make_attention

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
    ) -> None:
        super().__init__("inception_v3", method, num_classes)
        if insert_at not in ("layer3", "layer4"):
            raise ValueError(
                f"insert_at must be 'layer3' or 'layer4' for inception_v3, got {insert_at!r}"
            )
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
        self.insert_at = insert_at
        attention = make_attention(method, 288 if insert_at == "layer3" else 768, attention_kw)
        if attention is not None:
            self.attention = attention
            self._attention_names.append("attention")
            self._new_modules.append("attention")
        self.head = nn.Sequential(
            nn.Dropout(0.5),
            nn.Conv2d(768, 1024, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Conv2d(1024, 1024, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
        )
        for m in self.head.modules():  # wsolevaluation: xavier for the new layers
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        self.classifier = nn.Sequential(nn.Conv2d(1024, num_classes, kernel_size=1))
        self._new_modules += ["head", "classifier"]

    def _attend(self, x: Tensor, stage: str) -> Tensor:
        return self.attention(x) if self._attention_names and self.insert_at == stage else x

    def feature_map(self, x: Tensor) -> Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.maxpool1(x))))
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        x = self._attend(x, "layer3")
        x = self.Mixed_6a(self.maxpool3(x))
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        return self.head(self._attend(x, "layer4"))
