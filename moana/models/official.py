"""Load checkpoints of the official MoANA code (Sohn et al., Scientific Reports 2023).

Official ResNet-50 MoANA checkpoints are torchvision-style state_dicts with the module appended to
``layer4`` (``layer4.3.conv_c.weight``, ``layer4.3.conv_h.weight``, ``layer4.3.bn1.*`` ...) and a
``classifier.0`` 1x1 convolution; saved from ``nn.DataParallel``, so keys may start with
``module.``.  :class:`moana.models.resnet.ResNetCAM` has exactly this layout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from torch import Tensor, nn

from moana.models.camnet import CAMNet
from moana.models.resnet import ResNetCAM
from moana.models.weights import load_strict, read_state_dict, strip_prefix

__all__ = ["load_official_checkpoint", "official_layout_kwargs"]

_MOANA = "layer4.3."


def official_layout_kwargs(state: Mapping[str, Tensor]) -> dict:
    """``build_model`` arguments matching an official state_dict (num_classes, kernel size,
    full or depthwise axis convolutions).  Raises ValueError if it is not an official one."""
    needed = ["classifier.0.weight", _MOANA + "conv_c.weight", _MOANA + "conv_h.weight"]
    absent = [k for k in needed if k not in state]
    if absent:
        raise ValueError(
            f"not an official ResNet-50 MoANA checkpoint: keys {absent} are missing "
            f"(found e.g. {sorted(state)[:5]} and {len(state)} keys in all; a vanilla ResNet or "
            "CAM checkpoint has no layer4.3.* / classifier.0.* keys)"
        )
    weight = state["classifier.0.weight"]
    conv_h = state[_MOANA + "conv_h.weight"]
    kernel = int(state[_MOANA + "conv_c.weight"].shape[-1])
    return {
        "num_classes": int(weight.shape[0]),
        "attention_kw": {
            "kernel_size": kernel,
            "axis_conv": "depthwise" if conv_h.shape[1] == 1 and conv_h.shape[0] > 1 else "full",
        },
    }


def load_official_checkpoint(
    checkpoint: str | os.PathLike | Mapping[str, Tensor],
    model: CAMNet | None = None,
    *,
    num_classes: int | None = None,
) -> CAMNet:
    """Load an official ResNet-50 MoANA state_dict (file or mapping) with strict key checking.

    ``checkpoint`` is a path to a ``torch.save`` file (a bare state_dict or one under
    ``"state_dict"``/``"model"``, keys possibly prefixed ``module.``; read with
    ``weights_only=True``) or an already loaded mapping.  With ``model=None`` a
    ``build_model("resnet50", method="moana", ...)`` is built whose ``num_classes`` (and kernel
    size / axis_conv) are read from the checkpoint; ``num_classes``, if given, must agree.
    Returns the model with the weights loaded (mode unchanged: call ``.eval()`` for inference).

    Source: the checkpoints released with MoANA (Sohn et al., Sci. Rep. 2023;
    ku-milab/MoANA, ResNet-50 with the module appended to ``layer4``).

    Raises TypeError when called the old way, ``load_official_checkpoint(model, path)``;
    FileNotFoundError / ValueError for a missing or unreadable file; ValueError when the keys
    are not those of an official checkpoint, ``num_classes`` disagrees, ``model`` is not a
    ResNet CAM network, or keys/shapes do not match ``model`` exactly.
    """
    if checkpoint is None or isinstance(checkpoint, nn.Module):
        raise TypeError(
            "load_official_checkpoint takes the path first: load_official_checkpoint(path, "
            f"model=None); got a {type(checkpoint).__name__} as the first argument "
            "(the old order was (model, path))"
        )
    from moana.models.build import build_model  # build imports this package's modules

    source = "state_dict" if isinstance(checkpoint, Mapping) else os.fspath(checkpoint)
    state = strip_prefix(dict(checkpoint)) if isinstance(checkpoint, Mapping) else read_state_dict(checkpoint)
    layout = official_layout_kwargs(state)
    if num_classes is not None and num_classes != layout["num_classes"]:
        raise ValueError(
            f"{source}: classifier.0.weight has {layout['num_classes']} classes, "
            f"but num_classes={num_classes} was requested"
        )
    if model is None:
        model = build_model("resnet50", method="moana", **layout)
    elif not isinstance(model, ResNetCAM):
        raise ValueError(f"official checkpoints are ResNet CAM networks; got a {type(model).__name__}")
    load_strict(model, state, str(source))
    return model
