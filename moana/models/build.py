"""``build_model``: backbones with a CAM head and an optional attention module (MoANA by default,
Sohn et al., Scientific Reports 2023; or any name of :func:`moana.nn.attention_names`), or one
of the WSOL methods re-evaluated by wsolevaluation (Choe et al., CVPR 2020): HaS and CutMix
(input-level, the CAM network), ACoL, SPG and ADL (model variants, :mod:`moana.methods`)."""

from __future__ import annotations

import functools
import os

from moana.methods import method_options
from moana.methods.acol import ACoLMixin
from moana.methods.spg import SPGMixin
from moana.models.camnet import SINGLE_ADL, ZOO_METHODS, CAMNet
from moana.models.inception import InceptionCAM
from moana.models.resnet import ResNetCAM
from moana.models.small import SmallCAM
from moana.models.vgg import VGGCAM
from moana.models.weights import load_pretrained
from moana.nn import attention_names

__all__ = ["ARCHS", "MODEL_VARIANT_ARCHS", "build_model", "methods"]

ARCHS = ("resnet50", "vgg16", "inception_v3", "resnet18", "small", "efficientnet_lite0",
         "efficientnet_lite2")
#: EfficientNet-Lite trunks (:mod:`moana.models.lite_cam`; timm, ``demo`` extra)
LITE_CAM_ARCHS = ("efficientnet_lite0", "efficientnet_lite2")
#: Backbones of the model-variant methods (acol, spg, adl): wsolevaluation's three and ``small``.
MODEL_VARIANT_ARCHS = ("resnet50", "vgg16", "inception_v3", "small")
_MIXINS = {"acol": ACoLMixin, "spg": SPGMixin}


def methods() -> list[str]:
    """Accepted ``method`` names: ``"cam"``, the attention modules (``adl`` excepted: it is the
    WSOL method), ``adl_last`` (the ADL layer placed once where MoANA sits) and the WSOL methods
    ``has``, ``cutmix``, ``acol``, ``spg``, ``adl``."""
    attention = [name for name in attention_names() if name != "adl"]
    return ["cam", *attention, SINGLE_ADL, *ZOO_METHODS]


@functools.cache
def _model_class(base: type[CAMNet], method: str) -> type[CAMNet]:
    mixin = _MIXINS.get(method)
    if mixin is None:
        return base
    name = base.__name__.replace("CAM", "") + {"acol": "ACoL", "spg": "SPG"}[method]
    return type(name, (mixin, base), {"__module__": __name__, "__doc__": base.__doc__})


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
    method_kw: dict | None = None,
    zero_classifier: bool = False,
) -> CAMNet:
    """Build a CAM network.

    Args:
        arch: one of ``resnet50``, ``vgg16``, ``inception_v3``, ``resnet18``, ``small``,
            ``efficientnet_lite0``, ``efficientnet_lite2`` (``pretrained=True``: the ImageNet
            weights packaged with the ``demo`` extra).
        method: ``"cam"`` (vanilla CAM), an attention module name (``"moana"``, ``"se"``, ...,
            ``"adl_last"``) or a WSOL method (``"has"``, ``"cutmix"``: the CAM network;
            ``"acol"``, ``"spg"``, ``"adl"``: wsolevaluation's architectures, on ``resnet50``,
            ``vgg16``, ``inception_v3`` and ``small``).
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
        method_kw: options of the WSOL method under wsolevaluation's names (e.g.
            ``{"acol_threshold": 0.7}``, see :data:`moana.methods.METHOD_DEFAULTS`); keys of
            another method raise ValueError.  HaS / CutMix options are validated and left to
            :func:`moana.methods.batch_augmentation`.
        zero_classifier: ``small`` only: start the 1x1 classifier at zero (see
            :class:`moana.models.small.SmallCAM`; the smoke benchmark's setting).

    Raises:
        ValueError: unknown arch / method, bad option, a model-variant method on an
            unsupported backbone, or ``zero_classifier`` on another backbone than ``small``.
    """
    key = str(arch).lower()
    if key not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {list(ARCHS)}")
    if zero_classifier and key != "small":
        raise ValueError(f"zero_classifier is an option of the small backbone, not {arch!r} "
                         "(in a config: model.extra={} to drop it)")
    method_key = str(method).lower()
    if method_key not in methods():
        raise ValueError(f"unknown method {method!r}; choose one of {methods()}")
    if method_key in _MIXINS or method_key == "adl":
        if key not in MODEL_VARIANT_ARCHS:
            raise ValueError(f"method {method_key!r} is built on {list(MODEL_VARIANT_ARCHS)}, not {arch!r}")
    options = method_options(method_key, method_kw)
    common = dict(method=method_key, num_classes=num_classes, attention_kw=attention_kw, insert_at=insert_at,
                  method_kw=options)
    if key in LITE_CAM_ARCHS:
        if output_stride is not None:
            raise ValueError(f"output_stride applies to resnets only, not {arch!r}")
        from moana.models.lite_cam import LiteCAM, load_lite_backbone

        model = LiteCAM(key, large_feature_map=large_feature_map, **common)
        return model if pretrained in (None, False) else load_lite_backbone(model, pretrained)
    if key.startswith("resnet"):
        stride = output_stride if output_stride is not None else (8 if large_feature_map else 16)
        model: CAMNet = _model_class(ResNetCAM, method_key)(key, output_stride=stride, **common)
    else:
        if output_stride is not None:
            raise ValueError(f"output_stride applies to resnets only, not {arch!r}; use large_feature_map")
        cls = {"vgg16": VGGCAM, "inception_v3": InceptionCAM, "small": SmallCAM}[key]
        if key == "small":
            common["zero_classifier"] = bool(zero_classifier)
        model = _model_class(cls, method_key)(large_feature_map=large_feature_map, **common)
    if pretrained not in (None, False):
        load_pretrained(model, pretrained)
    return model
