"""VGG16 with a CAM head, following wsolevaluation's modification (Choe et al., CVPR 2020,
"Evaluating weakly supervised object localization methods right"; clovaai/wsolevaluation
``wsol/vgg.py``).

torchvision ``vgg16().features`` (torchvision keys) with pool5 removed, and with
``large_feature_map`` also pool4 removed (28x28 at 224 px instead of 14x14); the removed pools
become ``nn.Identity`` so pretrained keys keep their indices.  Head: ``conv6`` (512 -> 1024, 3x3)
+ ReLU, then ``classifier = Sequential(Conv2d(1024, K, 1))`` and global average pooling
(wsolevaluation uses GAP + Linear, which gives the same logits; its CAM drops the bias, a
constant shift).

Attention placement (our choice, as the paper only specifies ResNet-50): the module acts on the
output of the last *backbone* conv block (conv5_3 + ReLU, 512 channels), before the new conv6 —
the analogue of appending it to ResNet's layer4.  ``insert_at="layer3"`` puts it after conv4_3
(+ ReLU), before pool4 / conv5_1.

WSOL methods (wsolevaluation's layouts, torchvision keys kept):

- ``acol``: pools 1-3 become 3x3/2 (padding 1) max-pools, pool4 a 3x3/1 max-pool with
  ``large_feature_map`` (else 3x3/2), pool5 a 3x3/1 max-pool; a 3x3/1 average pool; no conv6;
  ``classifier_A`` / ``classifier_B`` (see :mod:`moana.methods.acol`).
- ``spg``: conv4 and conv5 blocks are wsolevaluation's ``SPG_A_1`` / ``SPG_A_2`` (here
  ``features.17..21`` / ``features.24..28``), pool4 a 3x3/2 max-pool without
  ``large_feature_map`` (none with it), no pool5 and no conv6; ``SPG_A_3`` (two 3x3 convs
  512 -> 512 + ReLU) then ``classifier`` (wsolevaluation's ``SPG_A_4``); side branches on the
  conv4 and conv5 outputs, ``SPG_C`` on ``SPG_A_3``'s (see :mod:`moana.methods.spg`).
- ``adl``: ADL layers after ``features.16`` (pool3), ``features.22`` and ``features.29``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from moana.methods.acol import acol_classifier
from moana.methods.adl import adl_layer
from moana.methods.spg import spg_side_modules
from moana.models.camnet import CAMNet

__all__ = ["VGGCAM"]

_POOLS = (4, 9, 16, 23, 30)  # max-pool indices in torchvision's vgg16().features
_POOL4, _POOL5 = 23, 30
_ADL_AFTER = (16, 22, 29)


def _he_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)


def _xavier_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


class VGGCAM(CAMNet):
    """VGG16 CAM network (see module docstring)."""

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
        super().__init__("vgg16", method, num_classes, insert_at=insert_at, method_kw=method_kw)
        # torchvision's own builder of vgg16().features (skips the 120M-parameter classifier)
        features = make_layers(cfgs["D"])
        _he_init(features)
        self.large_feature_map = large_feature_map
        self._set_pools(features)
        self.features = features
        # the attention module runs before features[split:]
        self._split = _POOL4 if insert_at == "layer3" else len(features)
        self._add_attention(512, attention_kw)
        self.adl = nn.ModuleDict(
            {str(i): adl_layer(256 if i == 16 else 512, self.method_kw) for i in _ADL_AFTER}
            if method == "adl" else {}
        )
        if method == "acol":
            self.classifier_A = acol_classifier(512, num_classes)
            self.classifier_B = acol_classifier(512, num_classes)
            _xavier_init(self.classifier_A), _xavier_init(self.classifier_B)
            self._new_modules += ["classifier_A", "classifier_B"]
            return
        if method == "spg":
            self.SPG_A_3 = nn.Sequential(
                nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(inplace=True),
            )
            for name, module in spg_side_modules(512, 512, 512, 512).items():
                setattr(self, name, module)
            self.classifier = nn.Sequential(nn.Conv2d(512, num_classes, kernel_size=1))
            self._new_modules += ["SPG_A_3", "SPG_B_1a", "SPG_B_2a", "SPG_B_shared", "SPG_C", "classifier"]
            for name in self._new_modules:
                _xavier_init(getattr(self, name))
            return
        self.conv6 = nn.Conv2d(512, 1024, kernel_size=3, padding=1)
        _he_init(self.conv6)
        self.relu6 = nn.ReLU(inplace=False)
        self.classifier = nn.Sequential(nn.Conv2d(1024, num_classes, kernel_size=1))
        self._new_modules += ["conv6", "classifier"]

    def _set_pools(self, features: nn.Sequential) -> None:
        large = self.large_feature_map
        if self.method == "acol":
            for i in _POOLS[:3]:
                features[i] = nn.MaxPool2d(3, stride=2, padding=1)
            features[_POOL4] = nn.MaxPool2d(3, stride=1 if large else 2, padding=1)
            features[_POOL5] = nn.MaxPool2d(3, stride=1, padding=1)
        elif self.method == "spg":
            features[_POOL4] = nn.Identity() if large else nn.MaxPool2d(3, stride=2, padding=1)
            features[_POOL5] = nn.Identity()
        else:
            features[_POOL5] = nn.Identity()
            if large:
                features[_POOL4] = nn.Identity()

    def _run_features(self, x: Tensor, start: int = 0, stop: int | None = None) -> Tensor:
        stop = len(self.features) if stop is None else stop
        for i in range(start, stop):
            if i == self._split and self._attention_names:
                x = self.attention(x)
            x = self.features[i](x)
            if str(i) in self.adl:
                x = self.adl[str(i)](x)
        if stop == len(self.features) and self._split == stop and self._attention_names:
            x = self.attention(x)
        return x

    def trunk(self, x: Tensor) -> Tensor:
        """Backbone feature before the CAM head (ACoL: after its 3x3/1 average pool)."""
        x = self._run_features(x)
        return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1) if self.method == "acol" else x

    def spg_streams(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """SPG's streams (wsolevaluation ``wsol/vgg.py``): features up to pool4 (SPG-B1 input), up to
        conv5_3 (SPG-B2 input), SPG-A3's output (SPG-C input) and the class maps (B, K, h, w)."""
        b1 = self._run_features(x, 0, _POOL4 + 1)
        b2 = self._run_features(b1, _POOL4 + 1, _POOL5)
        c = self.SPG_A_3(b2)
        return b1, b2, c, self.classifier(c)

    def feature_map(self, x: Tensor) -> Tensor:
        """conv6 + ReLU on the trunk, (B, 1024, h, w) (h = w = 28 at 224 px, large feature map)."""
        return self.relu6(self.conv6(self.trunk(x)))
