"""WSOL methods re-evaluated by wsolevaluation (Choe et al., CVPR 2020, clovaai/wsolevaluation):
HaS and CutMix (input-level, on the CAM architecture), ACoL, SPG and ADL (model variants).

``method_kw`` keys are wsolevaluation's ``config.py`` argument names; their defaults are its
defaults (:data:`METHOD_DEFAULTS`).  ``batch_augmentation(method, **method_kw)`` is the
input-level hook of the trainer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import Generator, Tensor

__all__ = ["INPUT_LEVEL", "METHOD_DEFAULTS", "batch_augmentation", "method_options"]

#: Methods applied to the input batch; the network is the CAM network.
INPUT_LEVEL = ("has", "cutmix")

#: Defaults of wsolevaluation's config.py (``--has_grid_size 4`` is the patch side in pixels).
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "has": {"has_grid_size": 4, "has_drop_rate": 0.5},
    "cutmix": {"cutmix_beta": 1.0, "cutmix_prob": 1.0},
    "acol": {"acol_threshold": 0.7},
    "spg": {
        "spg_threshold_1h": 0.7, "spg_threshold_1l": 0.01,
        "spg_threshold_2h": 0.5, "spg_threshold_2l": 0.05,
        "spg_threshold_3h": 0.7, "spg_threshold_3l": 0.1,
    },
    "adl": {"adl_drop_rate": 0.75, "adl_threshold": 0.9},
}

Augmentation = Callable[[Tensor, Tensor, Generator], tuple[Tensor, Tensor]]


def method_options(method: str, method_kw: Mapping[str, Any] | None) -> dict[str, Any]:
    """``method_kw`` completed with the defaults of ``method``.

    Raises ValueError for a key that ``method`` does not have (every method without options,
    e.g. ``cam`` or ``moana``, accepts only an empty ``method_kw``)."""
    given = dict(method_kw or {})
    defaults = METHOD_DEFAULTS.get(method, {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(
            f"method_kw keys {unknown} do not apply to method {method!r}; "
            f"it accepts {sorted(defaults) or 'no keys'}"
        )
    options = {**defaults, **given}
    for key, value in options.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"method_kw[{key!r}] must be a number, got {value!r}")
    return options


def batch_augmentation(method: str, **method_kw: Any) -> Augmentation | None:
    """The input-level augmentation of ``method``, or None when ``method`` is not input-level.

    Returns ``aug(images (B, 3, H, W) float, labels (B,) long, generator) -> (images, targets)``:
    HaS gives ``targets = labels``; CutMix gives soft targets ``lam * onehot(a) + (1 - lam) *
    onehot(b)`` of width ``num_classes`` when that key is passed (else ``labels.max() + 1``; the
    loss pads them).  ``method_kw`` is validated against the method's keys (``num_classes``
    aside); a method that is not input-level ignores it.
    """
    key = str(method).lower()
    if key not in INPUT_LEVEL:
        return None
    num_classes = method_kw.pop("num_classes", None)
    options = method_options(key, method_kw)
    if key == "has":
        from moana.methods.has import HideAndSeek

        return HideAndSeek(grid_size=options["has_grid_size"], drop_rate=options["has_drop_rate"])
    from moana.methods.cutmix import CutMix

    return CutMix(beta=options["cutmix_beta"], prob=options["cutmix_prob"], num_classes=num_classes)
