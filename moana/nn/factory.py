"""Create attention modules by name (timm-style factory).

Every module takes ``channels`` first and maps a (B, C, H, W) tensor to a tensor of the same
shape, so any of them can be inserted where MoANA sits in a backbone.
"""

from __future__ import annotations

import importlib

from torch import nn

# name -> "module:ClassName" inside moana.nn; imported lazily so one missing optional
# module never breaks the others.
_REGISTRY: dict[str, str] = {
    "moana": "moana:MoANA",
    "se": "se:SqueezeExcitation",
    "cbam": "cbam:CBAM",
    "eca": "eca:ECA",
    "coord_attn": "coord_attn:CoordAttention",
    "adl": "adl:ADL",
}


def attention_names() -> list[str]:
    """Names accepted by :func:`create_attention` (and by ``build_model(method=...)``)."""
    return sorted(_REGISTRY)


def get_attention_class(name: str) -> type[nn.Module]:
    """The class registered as attention module ``name`` (case-insensitive), imported on demand.
    Raises ValueError listing the known names for an unknown one."""
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown attention module {name!r}; choose one of {attention_names()}")
    module_name, class_name = _REGISTRY[key].split(":")
    module = importlib.import_module(f"moana.nn.{module_name}")
    return getattr(module, class_name)


def create_attention(name: str, channels: int, **kwargs) -> nn.Module:
    """Instantiate the attention module ``name`` for a feature map with ``channels`` channels."""
    if not isinstance(channels, int) or channels <= 0:
        raise ValueError(f"channels must be a positive int, got {channels!r}")
    return get_attention_class(name)(channels, **kwargs)
