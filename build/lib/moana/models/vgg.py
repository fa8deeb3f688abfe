"""VGG16 with a CAM head, following wsolevaluation's modification (Choe et al., CVPR 2020,
"Evaluating weakly supervised object localization methods right").

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
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from moana.models.camnet import CAMNet, make_attention

__all__ = ["VGGCAM"]

_POOL4, _POOL5 = 23, 30  # indices in torchvision's vgg16().features


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
    ) -> None:
        super().__init__("vgg16", method, num_classes)
        if insert_at not in ("layer3", "layer4"):
            raise ValueError(f"insert_at must be 'layer3' or 'layer4' for vgg16, got {insert_at!r}")
        # torchvision's own builder of vgg16().features (skips the 120M-parameter classifier)
        features = make_layers(cfgs["D"])
        for m in features.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        features[_POOL5] = nn.Identity()
        if large_feature_map:
            features[_POOL4] = nn.Identity()
        self.features = features
        self.large_feature_map = large_feature_map
        # the attention module runs before features[split:]
        self._split = _POOL4 if insert_at == "layer3" else len(features)
        attention = make_attention(method, 512, attention_kw)
        if attention is not None:
            self.attention = attention
            self._attention_names.append("attention")
            self._new_modules.append("attention")
        self.conv6 = nn.Conv2d(512, 1024, kernel_size=3, padding=1)
        nn.init.kaiming_normal_(self.conv6.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.conv6.bias)
        self.relu6 = nn.ReLU(inplace=False)
        self.classifier = nn.Sequential(nn.Conv2d(1024, num_classes, kernel_size=1))
        self._new_modules += ["conv6", "classifier"]

    def feature_map(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.features):
            if i == self._split and self._attention_names:
                x = self.attention(x)
            x = layer(x)
        if self._split == len(self.features) and self._attention_names:
            x = self.attention(x)
        return self.relu6(self.conv6(x))
