"""A tiny CNN with a CAM head for CPU smoke runs at 32-128 px (not from the paper).

Four ResNet-like stages of 3x3 conv + BatchNorm + ReLU (about 0.3 M parameters); output stride 4
(64 px -> 16x16 map) with ``large_feature_map`` (default), 8 without.  The attention module sits
after ``layer4`` (default) or after ``layer3`` (ablation), then ``classifier`` (1x1 conv) + GAP,
like the ResNet-50 of the official MoANA code.
"""

from __future__ import annotations

from torch import Tensor, nn

from moana.models.camnet import CAMNet, make_attention

__all__ = ["SmallCAM"]


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallCAM(CAMNet):
    """Tiny CAM network for tests and the smoke profile (see module docstring)."""

    def __init__(
        self,
        *,
        method: str,
        num_classes: int,
        attention_kw: dict | None = None,
        insert_at: str = "layer4",
        large_feature_map: bool = True,
        width: int = 32,
    ) -> None:
        super().__init__("small", method, num_classes)
        if insert_at not in ("layer3", "layer4"):
            raise ValueError(f"insert_at must be 'layer3' or 'layer4' for small, got {insert_at!r}")
        w = width
        self.stem = _conv_bn_relu(3, w // 2, stride=2)
        self.layer1 = _conv_bn_relu(w // 2, w)
        self.layer2 = nn.Sequential(_conv_bn_relu(w, 2 * w, stride=2), _conv_bn_relu(2 * w, 2 * w))
        self.layer3 = _conv_bn_relu(2 * w, 4 * w, stride=1 if large_feature_map else 2)
        self.layer4 = _conv_bn_relu(4 * w, 4 * w)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.insert_at = insert_at
        self.large_feature_map = large_feature_map
        attention = make_attention(method, 4 * w, attention_kw)
        if attention is not None:
            self.attention = attention
            self._attention_names.append("attention")
            self._new_modules.append("attention")
        self.classifier = nn.Sequential(nn.Conv2d(4 * w, num_classes, kernel_size=1))
        self._new_modules.append("classifier")

    def _attend(self, x: Tensor, stage: str) -> Tensor:
        return self.attention(x) if self._attention_names and self.insert_at == stage else x

    def feature_map(self, x: Tensor) -> Tensor:
        x = self.layer2(self.layer1(self.stem(x)))
        x = self._attend(self.layer3(x), "layer3")
        return self._attend(self.layer4(x), "layer4")
