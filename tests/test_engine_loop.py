"""The generic epoch loop (moana.engine.loop) on a toy problem: resume equals an uninterrupted
run, PolynomialLR (IRN's poly schedule) steps per epoch, NaN losses stop the run, validation
keeps the best; fit restores the process-wide torch flags it sets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from moana.engine import loop as trainer
from moana.engine.loop import EpochLoop, LoopSettings, StepOutput, Validation
from moana.engine.runtime import torch_flags
from moana.train.step import WSOLStep


class Toy(nn.Module):
    arch, method, num_classes = "toy", "toy", 1

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x):
        return self.linear(x)


def _data() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1
    return [(x[i:i + 4], y[i:i + 4]) for i in range(0, 24, 4)]


def mse_step(model, batch, settings: LoopSettings) -> StepOutput:
    x, y = settings.to_device(batch[0]), settings.to_device(batch[1])
    return StepOutput(nn.functional.mse_loss(model(x), y), int(x.shape[0]))


def _loop(tmp: Path | None, epochs: int = 4, lr: float = 0.05, validate=None) -> EpochLoop:
    torch.manual_seed(0)
    model = Toy()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=epochs, power=0.9)
    return EpochLoop(model, _data(), optimizer, scheduler, mse_step,
                     LoopSettings(torch.device("cpu")), epochs=epochs, checkpoint_dir=tmp,
                     seed=3, validate=validate)


def test_poly_schedule_and_history(tmp_path: Path):
    history = _loop(tmp_path).run()
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    lrs = [r["lr"] for r in history]
    expected = [0.05 * (1 - e / 4) ** 0.9 for e in range(4)]  # IRN: lr * (1 - t/T)^0.9
    assert lrs == pytest.approx(expected)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert "train_top1" not in history[0] and history[0]["train_images"] == 24
    assert (tmp_path / "last.pt").is_file() and not (tmp_path / "best.pt").exists()


def test_resume_matches_uninterrupted(tmp_path: Path, monkeypatch):
    reference = _loop(tmp_path / "ref").run()
    real = trainer.train_one_epoch

    def dies_in_epoch_3(*args, epoch, **kwargs):
        if epoch == 2:
            raise KeyboardInterrupt
        return real(*args, epoch=epoch, **kwargs)

    monkeypatch.setattr(trainer, "train_one_epoch", dies_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        _loop(tmp_path / "cut").run()
    monkeypatch.setattr(trainer, "train_one_epoch", real)
    resumed = _loop(tmp_path / "cut")
    assert resumed.resume() == 2
    history = resumed.run()
    drop = ("train_time_s", "epoch_time_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in history] == \
        [{k: v for k, v in r.items() if k not in drop} for r in reference]


def test_resume_without_checkpoint_is_clear(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        _loop(tmp_path).resume()


def test_nan_loss_raises_diverged():
    with pytest.raises(trainer.DivergedError, match="training loss became"):
        _loop(None, lr=1e30).run()


def test_validation_keeps_best(tmp_path: Path):
    scores = iter([0.2, 0.5, 0.4, 0.1])

    def validate(model, epoch):
        score = next(scores)
        return Validation({"val_score": score}, "score", score, {"note": epoch})

    loop = _loop(tmp_path, validate=validate)
    history = loop.run()
    assert [r["is_best"] for r in history] == [True, True, False, False]
    assert loop.best == {"epoch": 2, "metric": "score", "score": 0.5, "note": 1}
    assert (tmp_path / "best.pt").is_file()


def test_torch_flags_are_restored():
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    with torch_flags(deterministic=True, device=torch.device("cpu")):
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark is False
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before
    with pytest.raises(RuntimeError):
        with torch_flags(deterministic=True, device=torch.device("cpu")):
            raise RuntimeError("boom")
    assert torch.are_deterministic_algorithms_enabled() == before[0]


def test_fit_restores_torch_flags(tmp_path: Path):
    from moana.train import fit, load_config

    tiny = ["data.synthetic={seed: 0, num_classes: 2, image_size: 32, "
            "per_class: {train: 4, val: 2, test: 2}}", "data.resize_size=36",
            "data.crop_size=32", "data.image_size=32", "data.num_workers=0",
            "optim.batch_size=4", "optim.epochs=1", "eval.cam_step=0.1", "runtime.quiet=true",
            "runtime.deterministic=true", f"data.data_root={tmp_path / 'data'}"]
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = True
    try:
        fit(load_config("smoke_cam", tiny), run_dir=tmp_path / "run")
        assert not torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.backends.cudnn.benchmark = False


class HookedNet(nn.Module):
    """A model following the WSOL method-hook contract: forward(images, labels=None) returning a
    dict with logits, and a loss(outputs, targets) adding an auxiliary term."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.seen_labels = None

    def forward(self, x, labels=None):
        self.seen_labels = labels
        return {"logits": self.linear(x.flatten(1)), "aux": x.mean()}

    def loss(self, outputs, targets):
        if targets.dtype.is_floating_point:  # soft targets
            ce = -(targets * outputs["logits"].log_softmax(1)).sum(1).mean()
        else:
            ce = nn.functional.cross_entropy(outputs["logits"], targets)
        return ce + 0 * outputs["aux"]


def test_wsol_step_follows_the_method_hooks(monkeypatch):
    import sys
    import types

    calls = {}

    def batch_augmentation(method, **kw):
        calls["method"], calls["kw"] = method, kw
        if method != "cutmix":
            return None

        def aug(images, labels, generator):
            calls["generator"] = generator
            soft = nn.functional.one_hot(labels, 3).float() * 0.5 + 0.5 / 3
            return images.flip(0), soft

        return aug

    fake = types.ModuleType("moana.methods")
    fake.batch_augmentation = batch_augmentation
    monkeypatch.setitem(sys.modules, "moana.methods", fake)
    settings = LoopSettings(torch.device("cpu"))
    images, labels = torch.randn(2, 1, 2, 2), torch.tensor([0, 2])
    net = HookedNet()

    step = WSOLStep("cutmix", {"alpha": 1.0}, seed=0)
    step.set_epoch(0)
    out = step(net, (images, labels, ["a", "b"]), settings)
    assert calls["method"] == "cutmix" and calls["kw"] == {"alpha": 1.0}
    assert isinstance(calls["generator"], torch.Generator)
    assert torch.equal(net.seen_labels, labels) and out.count == 2
    logits = net.linear(images.flip(0).flatten(1))
    soft = nn.functional.one_hot(labels, 3).float() * 0.5 + 0.5 / 3
    expected = -(soft * logits.log_softmax(1)).sum(1).mean()
    assert torch.allclose(out.loss, expected)
    assert int(out.correct) == int((logits.argmax(1) == labels).sum())

    plain = WSOLStep("cam")
    out = plain(net, (images, labels, ["a", "b"]), settings)
    assert torch.allclose(out.loss, nn.functional.cross_entropy(net.linear(images.flatten(1)),
                                                                labels))


def test_wsol_step_without_methods_package_or_labels_argument(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "moana.methods", None)  # import fails: no augmentation
    step = WSOLStep("cutmix")
    assert step.augment is None
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))  # forward(x) only, no .loss
    images, labels = torch.randn(2, 1, 2, 2), torch.tensor([1, 0])
    out = step(model, (images, labels, ["a", "b"]), LoopSettings(torch.device("cpu")))
    assert torch.allclose(out.loss, nn.functional.cross_entropy(model(images), labels))
