"""Ablation variants as configurations: named dicts of ``build_model`` arguments, never code copies.

MoANA (Sohn et al., Sci. Rep. 2023) argues for three mechanisms — triple-view (channel, height,
width) attention, attention expansion to a full (C, H, W) map, and feature calibration
``x * (a + b M)`` — and for fine-grained attention at a small cost compared with modules that give
coarse maps (SE, CBAM, ECA, coordinate attention) and with ADL, wsolevaluation's WSOL baseline.
:data:`VARIANTS` holds every ablation: axis subsets, calibrations, full vs depthwise axis
convolutions, insertion point, the baselines and vanilla CAM.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from moana.models import CAMNet

Variant = dict[str, Any]

def _v(name: str, group: str, method: str, description: str, **attention_kw: Any) -> Variant:
    insert_at = attention_kw.pop("insert_at", "layer4")
    return {
        "name": name,
        "group": group,
        "method": method,
        "attention_kw": attention_kw,
        "insert_at": insert_at,
        "description": description,
    }


#: Every variant. ``moana`` is full MoANA as in the paper's WSOL code: axes chw, calibration
#: x·(1+M), full (C→C) axis convolutions, inserted at the end of layer4. Each ablation changes one
#: thing relative to it.
VARIANTS: tuple[Variant, ...] = (
    _v("cam", "reference", "cam", "vanilla CAM: backbone + classifier, no attention module"),
    _v("moana", "reference", "moana", "full MoANA: axes chw, x*(1+M), full axis conv, layer4"),
    _v("axes=c", "axes", "moana", "channel view only", axes="c"),
    _v("axes=h", "axes", "moana", "height view only", axes="h"),
    _v("axes=w", "axes", "moana", "width view only", axes="w"),
    _v("axes=ch", "axes", "moana", "channel + height views", axes="ch"),
    _v("axes=cw", "axes", "moana", "channel + width views", axes="cw"),
    _v("axes=hw", "axes", "moana", "height + width views (no channel branch)", axes="hw"),
    _v(
        "calib=0.35+0.65M",
        "calibration",
        "moana",
        "calibration x*(0.35+0.65M) (the WSSS code's)",
        calibration=(0.35, 0.65),
    ),
    _v("calib=M", "calibration", "moana", "no calibration: x*M", calibration=(0.0, 1.0)),
    _v(
        "conv=depthwise",
        "axis_conv",
        "moana",
        "depthwise (groups=C) height/width convolutions",
        axis_conv="depthwise",
    ),
    _v("insert=layer3", "insertion", "moana", "MoANA at the end of layer3", insert_at="layer3"),
    _v("se", "baseline", "se", "squeeze-excitation (channel gate)"),
    _v("cbam", "baseline", "cbam", "CBAM (channel gate + one spatial map)"),
    _v("eca", "baseline", "eca", "ECA (1-D conv channel gate)"),
    _v("coord_attn", "baseline", "coord_attn", "coordinate attention (H and W gates)"),
    _v("adl", "baseline", "adl_last", "one ADL layer after the last block (adl_last), drop rate 0.75, threshold 0.8"),
)

#: Controls of the synthetic benchmark (:mod:`moana.experiments.benchmark`): not ablations of
#: MoANA but training changes known to spread a CAM over the whole object, run like variants so
#: that they share the seeds, data and schedule of the ablation. ``data`` holds synthetic-data
#: knobs of the control's own *training* data (:class:`moana.data.synthetic.WSOLSynthSpec`; val
#: and test are unchanged); a control with ``data`` needs ``data.dataset: synthetic``.
CONTROLS: tuple[Variant, ...] = (
    {**_v("has", "control", "has", "Hide-and-Seek (Singh & Lee, ICCV 2017) on vanilla CAM: "
          "random patches hidden in training (wsolevaluation defaults: 4-px patches, rate 0.5)"),
     "data": {}},
    {**_v("cam+mark_hidden", "control", "cam", "vanilla CAM trained with the class mark hidden "
          "in half of the training images, whose bodies then carry the class's stripes "
          "(synthetic data only; val/test unchanged)"),
     "data": {"mark_hidden": 0.5}},
)

#: Default variant list of the smoke profile: one per mechanism, cut down so that 3 seeds fit the
#: smoke budget (~5 min on 2 shared cores, see :data:`SMOKE_OVERRIDES`).
SMOKE_VARIANTS: tuple[str, ...] = (
    "cam", "moana", "axes=hw", "calib=M", "conv=depthwise", "se",
)

#: Overrides of the smoke ablation (on top of the ``smoke_moana`` config): a smaller synthetic
#: benchmark (30 train / 5 val / 10 test images per class, 4 classes), 3 epochs at a constant
#: learning rate, evaluation on val only after the last epoch.
SMOKE_OVERRIDES: tuple[str, ...] = (
    "data.synthetic.per_class={train: 30, val: 5, test: 10}",
    "optim.epochs=3",
    "optim.milestones=[]",
    "eval.every=1000",
)

#: Default for :func:`cost_table`: variants whose cost differs (calibration variants cost the same
#: as ``moana``; the other axis subsets lie between ``axes=c`` and ``moana``).
COST_VARIANTS: tuple[str, ...] = (
    "cam", "moana", "axes=c", "axes=hw", "conv=depthwise", "insert=layer3",
    "se", "cbam", "eca", "coord_attn", "adl",
)

#: Metrics reported by the runner and the summary (keys of the dict returned by ``fit``).
DEFAULT_METRICS: tuple[str, ...] = ("top1_cls", "MaxBoxAccV2", "PxAP")


def _by_name() -> dict[str, Variant]:
    return {v["name"]: v for v in VARIANTS + CONTROLS}


def get_variants(names: Iterable[str | Mapping[str, Any]] | None = None) -> list[Variant]:
    """Variants by name (all of :data:`VARIANTS` when ``names`` is None; names of
    :data:`CONTROLS` are accepted too); dicts are checked and passed through.

    A custom variant is a dict with at least ``name`` and ``method`` (and optionally
    ``attention_kw``, ``insert_at``, ``group``, ``description`` and ``data``: synthetic-data
    knobs of its own training data, see :data:`CONTROLS`). Raises ValueError for an unknown
    name, a dict without ``name`` / ``method`` or a repeated name.
    """
    if names is None:
        return [copy.deepcopy(v) for v in VARIANTS]
    if isinstance(names, str):
        names = [names]
    table = _by_name()
    out: list[Variant] = []
    for item in names:
        if isinstance(item, Mapping):
            if "name" not in item or "method" not in item:
                raise ValueError(f"a custom variant needs 'name' and 'method', got {dict(item)!r}")
            v = {
                "group": "custom",
                "attention_kw": {},
                "insert_at": "layer4",
                "description": "",
                "data": {},
                **copy.deepcopy(dict(item)),
            }
        elif item in table:
            v = {"data": {}, **copy.deepcopy(table[item])}
        else:
            raise ValueError(f"unknown ablation variant {item!r}; choose from {sorted(table)}")
        out.append(v)
    names_seen = [v["name"] for v in out]
    dupes = sorted({n for n in names_seen if names_seen.count(n) > 1})
    if dupes:
        raise ValueError(f"variant names must be unique, repeated: {dupes}")
    return out


def variant_table(variants: Iterable[str | Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """The variants as a DataFrame (one row each) for display."""
    rows = [
        {
            "name": v["name"],
            "group": v["group"],
            "method": v["method"],
            "attention_kw": json.dumps(v["attention_kw"]),
            "insert_at": v["insert_at"],
            "description": v["description"],
            "train_data": ", ".join(f"{k}={x}" for k, x in (v.get("data") or {}).items()),
        }
        for v in get_variants(variants)
    ]
    return pd.DataFrame(rows).set_index("name")


def variant_model_kwargs(variant: str | Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`moana.models.build_model` for one variant."""
    (v,) = get_variants([variant])
    kw: dict[str, Any] = {"method": v["method"]}
    if v["method"] != "cam":
        kw["attention_kw"] = copy.deepcopy(v["attention_kw"])
        kw["insert_at"] = v["insert_at"]
    return kw


def build_variant_model(
    variant: str | Mapping[str, Any], arch: str = "resnet50", *, num_classes: int = 200, **kw: Any
) -> CAMNet:
    """Build ``arch`` with the variant's attention module (via :func:`moana.models.build_model`)."""
    from moana.models import build_model

    return build_model(arch, num_classes=num_classes, **variant_model_kwargs(variant), **kw)


def variant_overrides(variant: str | Mapping[str, Any]) -> list[str]:
    """Config overrides (``key=value`` strings for :func:`moana.train.config.load_config`)."""
    kw = variant_model_kwargs(variant)
    return [
        f"model.method={kw['method']}",
        f"model.attention_kw={json.dumps(kw.get('attention_kw', {}))}",
        f"model.insert_at={kw.get('insert_at', 'layer4')}",
    ]
