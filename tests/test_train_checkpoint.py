"""Checkpoints: atomic, weights_only loading, RNG states, clear errors for another model."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from moana.engine.checkpoint import (
    load_checkpoint,
    load_model_weights,
    restore_rng_state,
    save_checkpoint,
)
from moana.models.build import build_model


def _model(num_classes: int = 2, method: str = "cam"):
    return build_model("small", method=method, num_classes=num_classes)


def test_round_trip_with_optimizer_and_rng(tmp_path: Path):
    torch.manual_seed(0)
    model = _model()
    optimizer = torch.optim.SGD(model.param_groups(0.1, 0.01), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [1], 0.1)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    scheduler.step()
    path = tmp_path / "ck" / "last.pt"
    save_checkpoint(path, model=model, epoch=3, optimizer=optimizer, scheduler=scheduler,
                    history=[{"epoch": 1, "val_top1_cls": 50.0}], best={"epoch": 1})
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary left
    expected = (random.random(), np.random.rand(), torch.rand(3))
    state = load_checkpoint(path)
    assert state["epoch"] == 3 and state["arch"] == "small" and state["num_classes"] == 2
    restore_rng_state(state["rng"])
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert expected[0] == again[0] and expected[1] == again[1]
    assert torch.equal(expected[2], again[2])
    other = _model()
    load_model_weights(other, state, path)
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    fresh_opt = torch.optim.SGD(other.param_groups(0.1, 0.01), lr=0.1, momentum=0.9)
    fresh_opt.load_state_dict(state["optimizer"])
    assert fresh_opt.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_other_architecture_or_classes_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "best.pt"
    save_checkpoint(path, model=_model(num_classes=2), epoch=1)
    state = load_checkpoint(path)
    with pytest.raises(ValueError, match="num_classes=2.*num_classes=3"):
        load_model_weights(_model(num_classes=3), state, path)
    with pytest.raises(ValueError, match="method=cam.*method=moana"):
        load_model_weights(_model(method="moana"), state, path)


def test_foreign_files_are_rejected(tmp_path: Path):
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(ValueError, match="not a moana training checkpoint"):
        load_checkpoint(plain)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, evil)
    with pytest.raises(ValueError, match="weights_only"):
        load_checkpoint(evil)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
