"""Load checkpoints written by wsolevaluation's ``main.py`` (Choe et al., CVPR 2020;
clovaai/wsolevaluation): ``{"architecture", "epoch", "state_dict", "optimizer"}`` saved with
``torch.save``, the state_dict possibly with a ``module.`` prefix.

Key translation (wsolevaluation -> ours; every other key is the same):

- ``fc.weight`` (K, C) / ``fc.bias`` -> ``classifier.0.weight`` (K, C, 1, 1) / ``.bias``
  (ResNet-50 and VGG16 for cam/has/cutmix/adl; GAP then a linear layer = GAP of a 1x1 conv);
- ``SPG_A4.*`` / ``SPG_A_4.*`` -> ``classifier.0.*``; Inception's ``SPG_A3_1b.0.*`` /
  ``SPG_A3_2b.0.*`` -> ``head.1.*`` / ``head.4.*``;
- VGG16 ``features.<i>`` -> ours in the order of the convolutions (wsolevaluation drops the
  removed pools and inserts ADL layers, we keep torchvision's indices); SPG's ``SPG_A_1.{0,2,4}``
  / ``SPG_A_2.{0,2,4}`` -> ``features.{17,19,21}`` / ``features.{24,26,28}``;
- ResNet-50 SPG: ``SPG_A1.0`` -> ``layer3.0``, ``SPG_A2.<i>`` -> ``layer3.<i+1>``; ADL:
  wsolevaluation's ADL layers sit inside ``layer3`` / ``layer4`` and shift the block indices
  (``layer3.2`` -> ``layer3.1``, ``layer4.2`` -> ``layer4.1``, ``layer4.3`` -> ``layer4.2``).

The loaded model gives wsolevaluation's logits; its CAMs equal wsolevaluation's up to a positive
scale and a shift (wsolevaluation averages ``w_k * feature`` over channels without the bias),
ACoL's exactly (both take the maximum of the min-max normalized branch maps).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from moana.methods import METHOD_DEFAULTS
from moana.models.build import build_model
from moana.models.camnet import CAMNet
from moana.models.weights import load_strict, load_weights_file, strip_prefix

__all__ = ["WSOL_ARCHS", "WSOL_METHODS", "load_wsolevaluation_checkpoint", "wsolevaluation_to_moana"]

WSOL_ARCHS = ("vgg16", "inception_v3", "resnet50")
WSOL_METHODS = ("cam", "has", "cutmix", "acol", "spg", "adl")
#: large_feature_map when the checkpoint does not tell: the settings of our shipped configs
#: (wsolevaluation's VGG16 uses the 14x14 map, ResNet-50 and Inception-v3 the 28x28 one).
DEFAULT_LARGE_FEATURE_MAP = {"vgg16": False, "inception_v3": True, "resnet50": True}
_ADL_RESNET = {"layer3": (1,), "layer4": (1, 4)}  # wsolevaluation's indices of the ADL layers


def _layout(method: str) -> str:
    return "cam" if method in ("has", "cutmix") else method


def _class_key(arch: str, layout: str) -> str:
    if layout == "acol":
        return "classifier_A.4.weight"
    if arch == "inception_v3" or (layout == "spg" and arch == "resnet50"):
        return "SPG_A4.weight"
    return "SPG_A_4.weight" if layout == "spg" else "fc.weight"


def _vgg_large_feature_map(state: dict[str, Tensor], layout: str) -> bool | None:
    """From the last conv index: cam 27 (28x28) / 28 (14x14), adl 29 / 30; else unknown."""
    last = max((int(k.split(".")[1]) for k in state if k.startswith("features.")), default=-1)
    table = {"cam": {27: True, 28: False}, "adl": {29: True, 30: False}}.get(layout, {})
    return table.get(last)


def _resnet_adl_index(stage: str, index: int) -> int:
    return index - sum(p < index for p in _ADL_RESNET[stage])


def wsolevaluation_to_moana(state: dict[str, Tensor], model: CAMNet) -> dict[str, Tensor]:
    """Translate the keys (and ``fc`` shapes) of a wsolevaluation state_dict to ``model``'s.

    ``model`` is the matching ``build_model(arch, method=...)``; raises ValueError when VGG's
    feature layers cannot be paired."""
    arch, layout = model.arch, _layout(model.method)
    vgg_index: dict[int, int] = {}
    if arch == "vgg16" and layout != "spg":
        theirs = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.")})
        ours = sorted({int(k.split(".")[1]) for k in model.state_dict() if k.startswith("features.")})
        if len(theirs) != len(ours):
            raise ValueError(f"{len(theirs)} VGG feature layers with weights, the model has {len(ours)}")
        vgg_index = dict(zip(theirs, ours))
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        new = key
        if key in ("fc.weight", "fc.bias"):
            new = "classifier.0." + key[3:]
            value = value.reshape(*value.shape, 1, 1) if key == "fc.weight" else value
        elif key.startswith(("SPG_A4.", "SPG_A_4.")):
            new = "classifier.0." + key.split(".", 1)[1]
        elif key.startswith("SPG_A3_1b.0."):
            new = "head.1." + key[len("SPG_A3_1b.0."):]
        elif key.startswith("SPG_A3_2b.0."):
            new = "head.4." + key[len("SPG_A3_2b.0."):]
        elif m := re.match(r"SPG_A_([12])\.(\d+)\.(.*)", key):
            base = 17 if m[1] == "1" else 24
            new = f"features.{base + int(m[2])}.{m[3]}"
        elif m := re.match(r"SPG_A([12])\.(\d+)\.(.*)", key):
            new = f"layer3.{int(m[2]) + (0 if m[1] == '1' else 1)}.{m[3]}"
        elif vgg_index and (m := re.match(r"features\.(\d+)\.(.*)", key)):
            new = f"features.{vgg_index[int(m[1])]}.{m[2]}"
        elif layout == "adl" and arch == "resnet50" and (m := re.match(r"(layer[34])\.(\d+)\.(.*)", key)):
            new = f"{m[1]}.{_resnet_adl_index(m[1], int(m[2]))}.{m[3]}"
        out[new] = value
    return out


def _read_checkpoint(path: Path, arch: str) -> dict[str, Tensor]:
    obj = load_weights_file(path, "wsolevaluation checkpoint")
    if isinstance(obj, dict) and "architecture" in obj and obj["architecture"] != arch:
        raise ValueError(f"{path} is a {obj['architecture']!r} checkpoint, not {arch!r}")
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path} holds no state_dict (expected wsolevaluation's {{'state_dict': ...}})")
    return strip_prefix(dict(state))


def _options_from_args(method: str, run_args: Any) -> dict[str, Any]:
    """The keys of ``method``'s options (:data:`moana.methods.METHOD_DEFAULTS`) in a
    wsolevaluation run's arguments (a Namespace or a mapping)."""
    if run_args is None:
        return {}
    args = run_args if isinstance(run_args, Mapping) else vars(run_args)
    return {k: args[k] for k in METHOD_DEFAULTS.get(method, {}) if args.get(k) is not None}


def load_wsolevaluation_checkpoint(
    path: str | os.PathLike,
    *,
    arch: str,
    method: str,
    num_classes: int | None = None,
    large_feature_map: bool | None = None,
    method_kw: dict | None = None,
    run_args: Any = None,
) -> CAMNet:
    """Build ``build_model(arch, method=method)`` and load a wsolevaluation checkpoint into it.

    Args:
        path: ``best_checkpoint.pth.tar`` / ``last_checkpoint.pth.tar`` of wsolevaluation's
            ``main.py`` (or a bare state_dict), read with ``torch.load(weights_only=True)``.
        arch: ``vgg16``, ``inception_v3`` or ``resnet50``.
        method: ``cam``, ``has``, ``cutmix``, ``acol``, ``spg`` or ``adl``.
        num_classes: checked against the checkpoint (read from it when None).
        large_feature_map: read from VGG16 cam/has/cutmix/adl keys; else
            :data:`DEFAULT_LARGE_FEATURE_MAP` unless given (it changes no key or shape).
        method_kw: the method's options under wsolevaluation's names. ACoL's
            ``acol_threshold`` decides its inference CAM (the maximum of branch A and of branch
            B on the feature erased at that threshold): a checkpoint trained with another
            threshold than 0.7 gives other CAMs unless it is passed. The other methods' options
            act in training only.
        run_args: the wsolevaluation run's arguments (its ``argparse.Namespace`` or a mapping,
            e.g. ``{"acol_threshold": 0.6}``): the method's option keys found there are used;
            ``method_kw`` wins where both name a key.

    Returns the model in eval mode.  Raises ValueError naming ``path`` on a missing or
    unexpected key, a shape mismatch, a num_classes or architecture mismatch.
    """
    path = Path(path)
    if arch not in WSOL_ARCHS:
        raise ValueError(f"wsolevaluation has no {arch!r} backbone; choose one of {list(WSOL_ARCHS)}")
    if method not in WSOL_METHODS:
        raise ValueError(f"wsolevaluation has no method {method!r}; choose one of {list(WSOL_METHODS)}")
    state = _read_checkpoint(path, arch)
    layout = _layout(method)
    class_key = _class_key(arch, layout)
    if class_key not in state:
        raise ValueError(f"{path}: no {class_key!r} key; not a wsolevaluation {arch} {method} checkpoint "
                         f"(found e.g. {sorted(state)[-3:]})")
    found = int(state[class_key].shape[0])
    if num_classes is not None and num_classes != found:
        raise ValueError(f"{path}: {class_key} has {found} classes, "
                         f"but num_classes={num_classes} was requested")
    if arch == "vgg16":
        inferred = _vgg_large_feature_map(state, layout)
        if inferred is not None and large_feature_map is not None and inferred != large_feature_map:
            raise ValueError(f"{path}: its VGG layers are those of large_feature_map={inferred}")
        large_feature_map = inferred if inferred is not None else large_feature_map
    if large_feature_map is None:
        large_feature_map = DEFAULT_LARGE_FEATURE_MAP[arch]
    options = {**_options_from_args(method, run_args), **(method_kw or {})}
    model = build_model(arch, method=method, num_classes=found, large_feature_map=large_feature_map,
                        method_kw=options or None)
    try:
        mapped = wsolevaluation_to_moana(state, model)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    load_strict(model, mapped, str(path), what=f"wsolevaluation's {arch} {method}", shown=8)
    return model.eval()
