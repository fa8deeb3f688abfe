"""MoANA's computation on one real input, step by step (Sohn et al., Sci. Rep. 2023; the formula
block of :mod:`moana.nn.moana`), for readers who want to see what the module does to a feature
map: the three axis descriptors, the expanded map and the calibration."""

from __future__ import annotations

import pandas as pd
import torch
from torch import Tensor, nn

from moana.nn.moana import MoANA

__all__ = ["moana_steps"]


def _row(step: str, formula: str, value: Tensor) -> dict[str, object]:
    v = value.float()
    return {"step": step, "formula": formula, "shape": "×".join(map(str, value.shape[1:])),
            "min": float(v.min()), "mean": float(v.mean()), "max": float(v.max())}


def _module_input(model: nn.Module, image: Tensor) -> tuple[MoANA, Tensor, Tensor]:
    """The model's first MoANA module, its input and its output for ``image`` (C, H, W)."""
    module = next((m for m in model.modules() if isinstance(m, MoANA)), None)
    if module is None:
        raise ValueError("the model holds no MoANA module")
    seen: dict[str, Tensor] = {}
    handle = module.register_forward_hook(
        lambda _m, args, out: seen.update(x=args[0].detach(), out=out.detach()))
    try:
        model.eval()
        with torch.no_grad():
            model(image.unsqueeze(0).to(next(model.parameters()).device))
    finally:
        handle.remove()
    return module, seen["x"], seen["out"]


def moana_steps(model: nn.Module, image: Tensor) -> pd.DataFrame:
    """One row per step of the model's MoANA module on ``image``: shape (per image), min, mean,
    max. The last row recomputes ``x * (a + b M)`` from the steps and reports its largest
    difference to the module's own output (0 up to float rounding)."""
    module, x, out = _module_input(model, image)
    rows = [_row("input x", "features entering MoANA", x)]
    with torch.no_grad():
        parts = module.axis_descriptors(x)
        pooled = {"c": x.mean(dim=(2, 3)), "h": x.mean(dim=3), "w": x.mean(dim=2)}
        means = {"c": "mean over H, W", "h": "mean over W", "w": "mean over H"}
        convs = {"c": "1-D conv across channels", "h": "1-D conv along H",
                 "w": "1-D conv along W"}
        for axis in module.axes:
            rows.append(_row(f"z_{axis}", means[axis], pooled[axis]))
            rows.append(_row(axis, f"sigmoid(BN({convs[axis]}(z_{axis})))", parts[axis]))
        attmap = module.attention_map(x)
        rows.append(_row("M", " + ".join(module.axes) + " (broadcast to C×H×W)", attmap))
        a, b = module.calibration
        rows.append(_row("a + b M", f"calibration a={a:g}, b={b:g}", a + b * attmap))
        rebuilt = x * (a + b * attmap)
        rows.append(_row("output", "x · (a + b M)", rebuilt))
    table = pd.DataFrame(rows)
    table.attrs["max_abs_diff_to_module"] = float((rebuilt - out).abs().max())
    return table
