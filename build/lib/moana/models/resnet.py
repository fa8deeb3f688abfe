"""ResNet with a CAM head in the layout of the official MoANA code (Sohn et al., 2023).

torchvision ResNet modules (``conv1``, ``bn1``, ``layer1``..``layer4``; torchvision state_dict
keys) with the strides of the last stages set to 1 for a large feature map; the attention module
is *appended* to the ``layer4`` ``nn.Sequential`` (ResNet-50: keys ``layer4.3.conv_c.weight``,
``layer4.3.bn1.running_mean``, ...) and the head is ``classifier = Sequential(Conv2d(C, K, 1))``;
logits are the spatial mean of the class maps.  Output strides: 8 (official WSOL: layer3 and
layer4 stride 1, 28x28 at 224 px), 16 (IRN-style WSSS / wsolevaluation's small map: layer4
stride 1) or 32 (unmodified).
"""

from __future__ import annotations

import torchvision
from torch import Tensor, nn

from moana.models.camnet import CAMNet, make_attention

__all__ = ["ResNetCAM", "set_stage_stride"]


def set_stage_stride(stage: nn.Sequential, stride: int) -> None:
    """Set the stride of a torchvision ResNet stage (first block's strided conv + shortcut)."""
    block = stage[0]
    strided = block.conv2 if isinstance(block, torchvision.models.resnet.Bottleneck) else block.conv1
    strided.stride = (stride, stride)
    if block.downsample is not None:
        block.downsample[0].stride = (stride, stride)


class ResNetCAM(CAMNet):
    """ResNet-18/50 CAM network (see module docstring).

    ``insert_at="layer3"`` appends the attention module to ``layer3`` instead (ablation).
    """

    def __init__(
        self,
        arch: str,
        *,
        method: str,
        num_classes: int,
        attention_kw: dict | None = None,
        insert_at: str = "layer4",
        output_stride: int = 8,
    ) -> None:
        super().__init__(arch, method, num_classes)
        constructors = {"resnet18": torchvision.models.resnet18, "resnet50": torchvision.models.resnet50}
        if arch not in constructors:
            raise ValueError(f"ResNetCAM supports {sorted(constructors)}, got {arch!r}")
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32 for {arch}, got {output_stride!r}")
        if insert_at not in ("layer3", "layer4"):
            raise ValueError(f"insert_at must be 'layer3' or 'layer4' for {arch}, got {insert_at!r}")
        tv = constructors[arch](weights=None)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(tv, name))
        if output_stride <= 16:
            set_stage_stride(self.layer4, 1)
        if output_stride == 8:
            set_stage_stride(self.layer3, 1)
        self.output_stride = output_stride
        stage: nn.Sequential = getattr(self, insert_at)
        channels = 512 * tv.layer4[0].expansion if insert_at == "layer4" else 256 * tv.layer3[0].expansion
        attention = make_attention(method, channels, attention_kw)
        if attention is not None:
            name = f"{insert_at}.{len(stage)}"
            stage.append(attention)
            self._attention_names.append(name)
            self._new_modules.append(name)
        feat = 512 * tv.layer4[0].expansion
        self.classifier = nn.Sequential(nn.Conv2d(feat, num_classes, kernel_size=1))
        self._new_modules.append("classifier")

    def feature_map(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.layer4(self.layer3(x))
