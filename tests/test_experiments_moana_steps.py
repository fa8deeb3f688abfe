"""MoANA step by step (notebook 03): every step present, the rebuilt output equals the module's."""

from __future__ import annotations

import pytest
import torch

from moana.experiments.moana_steps import moana_steps
from moana.models import build_model


def test_steps_rebuild_the_module_output():
    torch.manual_seed(0)
    model = build_model("small", method="moana", num_classes=3, attention_kw={"kernel_size": 3})
    table = moana_steps(model, torch.rand(3, 32, 32))
    assert list(table["step"]) == ["input x", "z_c", "c", "z_h", "h", "z_w", "w", "M", "a + b M",
                                   "output"]
    assert table.attrs["max_abs_diff_to_module"] < 1e-6
    m = table.set_index("step")
    assert 0 <= m.loc["M", "min"] and m.loc["M", "max"] <= 3  # sum of three sigmoids
    assert m.loc["a + b M", "min"] >= 1  # wsol calibration: 1 + M
    c_channels = int(m.loc["c", "shape"].split("×")[0])
    assert m.loc["z_c", "shape"] == str(c_channels)


def test_a_model_without_moana_is_refused():
    with pytest.raises(ValueError, match="no MoANA"):
        moana_steps(build_model("small", method="cam", num_classes=3), torch.rand(3, 32, 32))
