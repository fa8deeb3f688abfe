"""moana.models.model_cost on the tiny backbone (MACs checked against a hand count)."""

from __future__ import annotations

import math

from torch import nn

from moana.models import build_model, count_parameters, model_cost


def test_model_cost_small() -> None:
    model = build_model("small", method="cam", num_classes=5).train()
    cost = model_cost(model, 32, repeats=2)
    assert model.training  # mode restored
    assert cost.params == count_parameters(model) == sum(p.numel() for p in model.parameters())
    assert cost.input_size == (1, 3, 32, 32)
    assert cost.latency_ms > 0
    # hand count of the convolution MACs: stride 4 -> 8x8 map at 32 px
    convs = [(3, 16, 16), (16, 32, 16), (32, 64, 8), (64, 64, 8), (64, 128, 8), (128, 128, 8)]
    expected = sum(cin * cout * 9 * s * s for cin, cout, s in convs) + 128 * 5 * 8 * 8
    assert cost.macs == expected


def test_model_cost_linear_no_repeats() -> None:
    cost = model_cost(nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2)), 4, repeats=0)
    assert cost.macs == 48 * 2 and math.isnan(cost.latency_ms)
