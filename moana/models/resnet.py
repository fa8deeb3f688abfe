"""ResNet with a CAM head in the layout of the official MoANA code (Sohn et al., 2023).

torchvision ResNet modules (``conv1``, ``bn1``, ``layer1``..``layer4``; torchvision state_dict
keys) with the strides of the last stages set to 1 for a large feature map; the attention module
is *appended* to the ``layer4`` ``nn.Sequential`` (ResNet-50: keys ``layer4.3.conv_c.weight``,
``layer4.3.bn1.running_mean``, ...) and the head is ``classifier = Sequential(Conv2d(C, K, 1))``;
logits are the spatial mean of the class maps.  Output strides: 8 (official WSOL: layer3 and
layer4 stride 1, 28x28 at 224 px; wsolevaluation's ``large_feature_map``), 16 (IRN-style WSSS /
wsolevaluation's small map: layer4 stride 1) or 32 (unmodified).

WSOL methods (wsolevaluation's ``wsol/resnet.py`` layouts, torchvision keys kept; its ``fc`` is
our ``classifier.0``):

- ``acol``: ``classifier_A`` / ``classifier_B`` on the layer4 output (2048 channels);
- ``spg``: side branch 1 on the output of layer3's first block (wsolevaluation's ``SPG_A1``),
  side branch 2 on layer3's output (``SPG_A2`` = blocks 1-5), ``SPG_C`` on layer4's output
  (2048 -> 512 -> 1), ``classifier`` = wsolevaluation's ``SPG_A4``;
- ``adl``: ADL layers after ``layer3[0]``, ``layer4[0]`` and ``layer4[2]``.
"""

from __future__ import annotations

import torchvision
from torch import Tensor, nn

from moana.methods.acol import acol_classifier
from moana.methods.adl import adl_layer
from moana.methods.spg import spg_side_modules
from moana.models.camnet import CAMNet, make_attention

__all__ = ["ResNetCAM", "set_stage_stride"]

_ADL_AFTER = {"layer3": (0,), "layer4": (0, 2)}


def set_stage_stride(stage: nn.Sequential, stride: int) -> None:
    """Set the stride of a torchvision ResNet stage (first block's strided conv + shortcut)."""
    block = stage[0]
    strided = block.conv2 if isinstance(block, torchvision.models.resnet.Bottleneck) else block.conv1
    strided.stride = (stride, stride)
    if block.downsample is not None:
        block.downsample[0].stride = (stride, stride)


def _xavier_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


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
        method_kw: dict | None = None,
    ) -> None:
        super().__init__(arch, method, num_classes, insert_at=insert_at, method_kw=method_kw)
        constructors = {"resnet18": torchvision.models.resnet18, "resnet50": torchvision.models.resnet50}
        if arch not in constructors:
            raise ValueError(f"ResNetCAM supports {sorted(constructors)}, got {arch!r}")
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32 for {arch}, got {output_stride!r}")
        tv = constructors[arch](weights=None)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(tv, name))
        if output_stride <= 16:
            set_stage_stride(self.layer4, 1)
        if output_stride == 8:
            set_stage_stride(self.layer3, 1)
        self.output_stride = output_stride
        expansion = tv.layer4[0].expansion
        stage: nn.Sequential = getattr(self, insert_at)
        channels = 512 * expansion if insert_at == "layer4" else 256 * expansion
        attention = make_attention(method, channels, attention_kw)
        if attention is not None:
            name = f"{insert_at}.{len(stage)}"
            stage.append(attention)
            self._attention_names.append(name)
            self._new_modules.append(name)
        self.adl = nn.ModuleDict(
            {f"{layer}_{i}": adl_layer(0, self.method_kw) for layer, idx in _ADL_AFTER.items() for i in idx}
            if method == "adl" else {}
        )
        feat = 512 * expansion
        if method == "acol":
            self.classifier_A = acol_classifier(feat, num_classes)
            self.classifier_B = acol_classifier(feat, num_classes)
            for m in (*self.classifier_A.modules(), *self.classifier_B.modules()):  # wsolevaluation: he
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
            self._new_modules += ["classifier_A", "classifier_B"]
            return
        if method == "spg":
            mid = 256 * expansion
            for name, module in spg_side_modules(mid, mid, mid, feat).items():
                _xavier_init(module)
                setattr(self, name, module)
            self._new_modules += ["SPG_B_1a", "SPG_B_2a", "SPG_B_shared", "SPG_C"]
        self.classifier = nn.Sequential(nn.Conv2d(feat, num_classes, kernel_size=1))
        self._new_modules.append("classifier")

    def _stage(self, name: str, x: Tensor, start: int = 0, stop: int | None = None) -> Tensor:
        stage: nn.Module = getattr(self, name)
        if not isinstance(stage, nn.Sequential):
            # a module swapped in for the whole stage (Ablation-CAM's AblationLayer) is called
            # as a whole; it cannot be split into blocks
            if start != 0 or stop is not None:
                raise ValueError(f"{name} was replaced by {type(stage).__name__}, which cannot "
                                 f"be run block by block (blocks {start}:{stop})")
            return stage(x)
        stop = len(stage) if stop is None else stop
        if start == 0 and stop == len(stage) and not any(k.startswith(f"{name}_") for k in self.adl):
            return stage(x)  # the stage's own call, so forward hooks on it run
        for i in range(start, stop):
            x = stage[i](x)
            key = f"{name}_{i}"
            if key in self.adl:
                x = self.adl[key](x)
        return x

    def trunk(self, x: Tensor) -> Tensor:
        """Backbone feature (layer4 output)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self._stage("layer4", self._stage("layer3", x))

    def spg_streams(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """SPG's streams (wsolevaluation ``wsol/resnet.py``): the first layer3 block's output (SPG-B1
        input), layer3's output (SPG-B2 input), layer4's output (SPG-C input) and the class maps
        (B, K, h, w)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        b1 = self._stage("layer3", x, 0, 1)
        b2 = self._stage("layer3", b1, 1)
        c = self._stage("layer4", b2)
        return b1, b2, c, self.classifier(c)

    def feature_map(self, x: Tensor) -> Tensor:
        """layer4's output (with MoANA or another module inserted), (B, 2048, h, w); h = w = 28 at
        224 px with the official stride-1 layer3/layer4."""
        return self.trunk(x)
