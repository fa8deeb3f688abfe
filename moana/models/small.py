"""A tiny CNN with a CAM head for CPU smoke runs at 32-128 px (not from the paper).

Four ResNet-like stages of 3x3 conv + BatchNorm + ReLU (about 0.3 M parameters); output stride 4
(64 px -> 16x16 map) with ``large_feature_map`` (default), 8 without.  The attention module sits
after ``layer4`` (default) or after ``layer3`` (ablation), then ``classifier`` (1x1 conv) + GAP,
like the ResNet-50 of the official MoANA code.

WSOL methods (our small-scale analogues of wsolevaluation's layouts, not from any paper):
``adl``: ADL layers after layer3 and layer4; ``acol``: ``classifier_A`` / ``classifier_B`` of
width ``2 * 4 * width`` on the layer4 output; ``spg``: side branch 1 on layer3's output, side
branch 2 on layer4's, ``SPG_C`` on layer4's, width ``4 * width``.
"""

from __future__ import annotations

from torch import Tensor, nn

from moana.methods.acol import acol_classifier
from moana.methods.adl import adl_layer
from moana.methods.spg import spg_side_modules
from moana.models.camnet import CAMNet

__all__ = ["SmallCAM"]


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SmallCAM(CAMNet):
    """Tiny CAM network for tests and the smoke profile (see module docstring).

    ``zero_classifier`` (default False; ``smoke_cam`` sets it through ``model.extra``): the 1x1
    classifier starts at zero instead of PyTorch's default initialisation, so that every seed
    starts from the same head. SPG always keeps the default initialisation: its attention
    min-max normalises the classifier's map, which is undefined for a constant map.
    """

    def __init__(
        self,
        *,
        method: str,
        num_classes: int,
        attention_kw: dict | None = None,
        insert_at: str = "layer4",
        large_feature_map: bool = True,
        width: int = 32,
        method_kw: dict | None = None,
        zero_classifier: bool = False,
    ) -> None:
        super().__init__("small", method, num_classes, insert_at=insert_at, method_kw=method_kw)
        w = width
        self.stem = _conv_bn_relu(3, w // 2, stride=2)
        self.layer1 = _conv_bn_relu(w // 2, w)
        self.layer2 = nn.Sequential(_conv_bn_relu(w, 2 * w, stride=2), _conv_bn_relu(2 * w, 2 * w))
        self.layer3 = _conv_bn_relu(2 * w, 4 * w, stride=1 if large_feature_map else 2)
        self.layer4 = _conv_bn_relu(4 * w, 4 * w)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.large_feature_map = large_feature_map
        self._add_attention(4 * w, attention_kw)
        self.adl = nn.ModuleDict(
            {name: adl_layer(4 * w, self.method_kw) for name in ("layer3", "layer4")}
            if method == "adl" else {}
        )
        if method == "acol":
            self.classifier_A = acol_classifier(4 * w, num_classes, width=8 * w)
            self.classifier_B = acol_classifier(4 * w, num_classes, width=8 * w)
            self._new_modules += ["classifier_A", "classifier_B"]
            return
        if method == "spg":
            for name, module in spg_side_modules(4 * w, 4 * w, 4 * w, 4 * w, 4 * w).items():
                setattr(self, name, module)
            self._new_modules += ["SPG_B_1a", "SPG_B_2a", "SPG_B_shared", "SPG_C"]
        self.classifier = nn.Sequential(nn.Conv2d(4 * w, num_classes, kernel_size=1))
        if zero_classifier and method != "spg":  # SPG's attention is the classifier's own map
            nn.init.zeros_(self.classifier[0].weight)
            nn.init.zeros_(self.classifier[0].bias)
        self._new_modules.append("classifier")

    def _after(self, x: Tensor, name: str) -> Tensor:
        x = self.adl[name](x) if name in self.adl else x
        return self._attend(x, name)

    def trunk(self, x: Tensor) -> Tensor:
        """Stem and four stages (with any inserted attention module), (B, C, h, w)."""
        x = self.layer2(self.layer1(self.stem(x)))
        x = self._after(self.layer3(x), "layer3")
        return self._after(self.layer4(x), "layer4")

    def spg_streams(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """SPG's streams for the small CPU network: layer3's output (B1), layer4's output (B2 and C)
        and the class maps (B, K, h, w)."""
        x = self.layer2(self.layer1(self.stem(x)))
        b1 = self._after(self.layer3(x), "layer3")
        b2 = self._after(self.layer4(b1), "layer4")
        return b1, b2, b2, self.classifier(b2)

    def feature_map(self, x: Tensor) -> Tensor:
        """The trunk's output, (B, C, h, w)."""
        return self.trunk(x)
