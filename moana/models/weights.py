"""Load pretrained backbone weights: torchvision weight names (from the local torch hub cache
only; this kit never downloads) or local state_dict files."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision
from torch import Tensor

from moana.models.camnet import CAMNet

__all__ = ["load_pretrained", "read_state_dict", "strip_prefix", "WEIGHT_ENUMS"]

#: arch -> torchvision weights enum name
WEIGHT_ENUMS = {
    "resnet18": "ResNet18_Weights",
    "resnet50": "ResNet50_Weights",
    "vgg16": "VGG16_Weights",
    "inception_v3": "Inception_V3_Weights",
}
# keys of the torchvision ImageNet models that our CAM networks drop
_IGNORED_PREFIXES = ("fc.", "classifier.", "AuxLogits.", "Mixed_7a.", "Mixed_7b.", "Mixed_7c.")


def strip_prefix(state: dict[str, Tensor], prefix: str = "module.") -> dict[str, Tensor]:
    """Remove a DataParallel-style prefix from every key that has it."""
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}


def load_weights_file(path: Path, what: str) -> object:
    """``torch.load(path, weights_only=True)`` on the CPU; FileNotFoundError / ValueError name
    ``what`` and ``path``. The one reader behind every weights format the kit loads."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors
        raise ValueError(f"cannot read {what} {path}: {exc}") from exc


def load_strict(model: torch.nn.Module, state: dict[str, Tensor], where: str, *,
                what: str = "the model", shown: int = 10) -> None:
    """Load ``state`` into ``model`` after checking that the keys (``num_batches_tracked``
    buffers may be absent) and every shape match; ValueError naming ``where`` (the file) and
    listing up to ``shown`` missing / unexpected keys, or the mismatched shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        more_missing = " ..." if len(missing) > shown else ""
        more_unexpected = " ..." if len(unexpected) > shown else ""
        raise ValueError(
            f"{where} does not match {what}: missing keys {missing[:shown]}{more_missing} "
            f"({len(missing)}); unexpected keys {unexpected[:shown]}{more_unexpected} "
            f"({len(unexpected)})")
    bad = [f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}"
           for k, v in state.items() if v.shape != own[k].shape]
    if bad:
        raise ValueError(f"{where}: shape mismatch (checkpoint vs model): " + "; ".join(bad[:8]))
    model.load_state_dict(state, strict=False)


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """``torch.load(weights_only=True)`` a state_dict (also unwraps ``{"state_dict": ...}`` /
    ``{"model": ...}``) and strips a ``module.`` prefix."""
    path = Path(path)
    obj = load_weights_file(path, "weights file")
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"{path} does not hold a state_dict (a dict of tensors)")
    return strip_prefix(obj)


def torchvision_weights_file(arch: str, name: str) -> Path:
    """The local torch hub cache file of torchvision weights ``name`` for ``arch``; never downloads."""
    if arch not in WEIGHT_ENUMS:
        raise ValueError(f"no torchvision weights exist for arch {arch!r}; pass a local file path")
    enum = getattr(torchvision.models, WEIGHT_ENUMS[arch])
    try:
        weights = enum[name]
    except KeyError:
        names = sorted(enum.__members__)
        raise ValueError(f"unknown {enum.__name__} name {name!r}; choose one of {names}") from None
    filename = os.path.basename(weights.url)
    path = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not path.is_file():
        raise RuntimeError(
            f"pretrained weights {enum.__name__}.{name} are not in the local torch hub cache "
            f"({path}) and cannot be downloaded here (no network). Download {weights.url} "
            f"elsewhere and pass the local file, e.g. pretrained='/path/to/{filename}'"
        )
    return path


def _weights_path(arch: str, pretrained: str | os.PathLike | bool) -> Path:
    """A local file or a torchvision weights name (``True`` means ``"DEFAULT"``) -> the file."""
    if pretrained is True:
        pretrained = "DEFAULT"
    text = os.fspath(pretrained)
    looks_like_path = os.sep in text or text.endswith((".pth", ".pt", ".bin")) or Path(text).exists()
    return Path(text) if looks_like_path else torchvision_weights_file(arch, text)


def load_pretrained(model: CAMNet, pretrained: str | os.PathLike | bool) -> CAMNet:
    """Load backbone weights into ``model`` in place.

    ``pretrained`` is a torchvision weights name (``"IMAGENET1K_V1"``, ``"DEFAULT"``; ``True``
    means ``"DEFAULT"``) or a path.  Every backbone key must be present (``num_batches_tracked``
    excepted); the ImageNet head (fc, classifier, AuxLogits, Mixed_7*) is ignored; any other key
    is an error, as is a shape mismatch.
    """
    path = _weights_path(model.arch, pretrained)
    state = read_state_dict(path)
    own = model.state_dict()
    backbone = model.backbone_state_keys()
    missing = [k for k in backbone if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in backbone and not k.startswith(_IGNORED_PREFIXES)]
    if missing or unexpected:
        raise ValueError(
            f"{path} does not match the {model.arch} backbone: missing keys {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''} ({len(missing)}), unexpected keys "
            f"{unexpected[:8]}{' ...' if len(unexpected) > 8 else ''} ({len(unexpected)})"
        )
    bad = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in backbone
        if k in state and state[k].shape != own[k].shape
    ]
    if bad:
        raise ValueError(f"shape mismatch loading {path} into {model.arch}: " + "; ".join(bad[:8]))
    model.load_state_dict({k: state[k] for k in backbone if k in state}, strict=False)
    return model


def load_pretrained_classifier(model: CAMNet, pretrained: str | os.PathLike | bool) -> CAMNet:
    """Copy the ImageNet ``fc`` of ``pretrained`` (a torchvision weights name or file) into the
    1x1 ``classifier.0`` of ``model`` (GAP then a linear layer = GAP of a 1x1 conv).

    wsolevaluation keeps this layer for ResNet-50 on ILSVRC (``wsol/resnet.py``
    ``load_pretrained_model``). Raises ValueError naming the file when it has no ``fc`` or its
    class count is not the model's.
    """
    path = _weights_path(model.arch, pretrained)
    state = read_state_dict(path)
    if "fc.weight" not in state or "fc.bias" not in state:
        raise ValueError(f"{path} has no fc.weight / fc.bias to start the ILSVRC classifier from")
    conv = model.classifier[0]
    weight = state["fc.weight"]
    if tuple(weight.shape) != tuple(conv.weight.shape[:2]):
        raise ValueError(f"{path}: fc.weight is {tuple(weight.shape)}, the classifier needs "
                         f"{tuple(conv.weight.shape[:2])}")
    with torch.no_grad():
        conv.weight.copy_(weight.reshape(conv.weight.shape))
        conv.bias.copy_(state["fc.bias"])
    return model
