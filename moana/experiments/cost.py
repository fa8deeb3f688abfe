"""Cost of each attention module: parameters, multiply-accumulates and CPU latency of ResNet-50
with the module, as ratios to the plain backbone, all measured in one run (MoANA, Sohn et al.,
Sci. Rep. 2023, compares these costs with SE, CBAM, ECA, coordinate attention and ADL)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from moana.experiments.variants import COST_VARIANTS, get_variants, build_variant_model

def cost_table(
    variants: Iterable[str | Mapping[str, Any]] | None = None,
    *,
    arch: str = "resnet50",
    image_size: int = 224,
    num_classes: int = 200,
    repeats: int = 3,
    warmup: int = 1,
    model_kw: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Parameters, MACs and CPU forward latency of ``arch`` with each variant's module.

    ``variants`` defaults to :data:`COST_VARIANTS`; ``model_kw`` goes to ``build_model`` (e.g.
    ``{"output_stride": 16}``); the default ResNet-50 has output stride 8 (28x28 maps at 224, the
    official MoANA / wsolevaluation setting).

    All models are measured in the same run with batch 1 at ``image_size``; latency is the median
    of ``repeats`` timed forwards (after ``warmup``), with models timed round-robin so that a
    load change on a shared CPU affects all of them alike. Ratios are to the plain backbone
    (variant ``cam``, added when missing). MACs count convolutions and matrix products
    (``torch.utils.flop_counter``); elementwise gates (sigmoid, products) are not counted.
    """
    import torch

    from moana.models.cost import count_parameters, model_cost

    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    chosen = get_variants(COST_VARIANTS if variants is None else variants)
    if "cam" not in [v["name"] for v in chosen]:
        chosen = get_variants(["cam"]) + chosen
    x = torch.randn(1, 3, image_size, image_size)
    models = {}
    rows: dict[str, dict[str, Any]] = {}
    for v in chosen:
        model = build_variant_model(v, arch, num_classes=num_classes, **dict(model_kw or {}))
        counted = model_cost(model, image_size, batch_size=1, repeats=0, warmup=0)
        model.eval()
        rows[v["name"]] = {
            "group": v["group"],
            "params": counted.params,
            "attention_params": sum(count_parameters(m) for m in model.attention_modules()),
            "macs": counted.macs,
        }
        models[v["name"]] = model
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for _ in range(warmup):
            for model in models.values():
                model(x)
        for _ in range(repeats):
            for name, model in models.items():
                start = time.perf_counter()
                model(x)
                times[name].append(time.perf_counter() - start)
    for name in models:
        rows[name]["latency_ms"] = 1000.0 * statistics.median(times[name])
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "variant"
    base = df.loc["cam"]
    for col in ("params", "macs", "latency_ms"):
        df[f"{col}_ratio"] = df[col] / base[col]
    df.attrs.update(
        arch=arch, image_size=image_size, batch=1, repeats=repeats, threads=torch.get_num_threads()
    )
    return df
