"""``build_model``: backbones with a CAM head and an optional attention module (MoANA by default,
Sohn et al., Scientific Reports 2023; or any name of :func:`moana.nn.attention_names`)."""

from __future__ import annotations

import os

from moana.models.camnet import CAMNet
from moana.models.inception import InceptionCAM
from moana.models.resnet import ResNetCAM
from moana.models.small import SmallCAM
from moana.models.vgg import VGGCAM
from moana.models.weights import load_pretrained
from moana.nn import attention_names

__all__ = ["ARCHS", "build_model", "methods"]

ARCHS = ("resnet50", "vgg16", "inception_v3", "resnet18", "small")


def methods() -> list[str]:
    """Accepted ``method`` names: ``"cam"`` (no module) and every attention module name."""
    return ["cam", *attention_names()]


def build_model(
    arch: str,
    *,
    method: str = "moana",
    num_classes: int,
    pretrained: str | os.PathLike | bool | None = None,
    attention_kw: dict | None = None,
    insert_at: str = "layer4",
    output_stride: int | None = None,
    large_feature_map: bool = True,
) -> CAMNet:
    """Build a CAM network.

    Args:
        arch: one of ``resnet50``, ``vgg16``, ``inception_v3``, ``resnet18``, ``small``.
        method: ``"cam"`` (vanilla CAM) or an attention module name (``"moana"``, ``"se"``, ...).
        num_classes: number of classes K.
        pretrained: ``None`` (random init), a torchvision weights name (``"IMAGENET1K_V1"``;
            only from the local torch hub cache) or a local state_dict file.
        attention_kw: keyword arguments of the attention module (e.g. ``{"axis_conv":
            "depthwise"}``).
        insert_at: ``"layer4"`` (after the last backbone stage) or ``"layer3"`` (one earlier).
        output_stride: ResNets only: 8, 16 or 32; default 8 with ``large_feature_map`` (the
            official MoANA / wsolevaluation setting) else 16.
        large_feature_map: wsolevaluation's 28x28-at-224 maps for VGG16 / Inception-v3 (and the
            ResNet default stride); ``small``: stride 4 instead of 8.
    """
    key = str(arch).lower()
    if key not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {list(ARCHS)}")
    method_key = str(method).lower()
    if method_key not in methods():
        raise ValueError(f"unknown method {method!r}; choose one of {methods()}")
    common = dict(method=method_key, num_classes=num_classes, attention_kw=attention_kw, insert_at=insert_at)
    if key.startswith("resnet"):
        stride = output_stride if output_stride is not None else (8 if large_feature_map else 16)
        model: CAMNet = ResNetCAM(key, output_stride=stride, **common)
    else:
        if output_stride is not None:
            raise ValueError(f"output_stride applies to resnets only, not {arch!r}; use large_feature_map")
        cls = {"vgg16": VGGCAM, "inception_v3": InceptionCAM, "small": SmallCAM}[key]
        model = cls(large_feature_map=large_feature_map, **common)
    if pretrained not in (None, False):
        load_pretrained(model, pretrained)
    return model
