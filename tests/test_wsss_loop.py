"""The WSSS training steps on the shared epoch loop: IRN's per-iteration poly schedule (the same
learning rate at every iteration as IRN's PolyOptimizer), determinism for a seed on the CPU,
and an interrupted-then-resumed step equal to an uninterrupted one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from moana.data.voc import load_cls_labels, read_id_list
from moana.engine import loop as trainer
from moana.engine.loop import EpochLoop, LoopSettings, StepOutput
from moana.wsss._io import load_image_rgb, save_png, voc_image_path
from moana.wsss.config import CamConfig, IRNConfig
from moana.wsss.irn import train_irn
from moana.wsss.loop import poly_scheduler
from moana.wsss.train_cam import CamStep, train_cam


def irn_poly_lr(lr0: float, k: int, max_step: int) -> float:
    """IRN PolyOptimizer (misc/torchutils.py): the lr used by step k (0-based) of max_step."""
    return lr0 * (1 - k / max_step) ** 0.9


@pytest.fixture(scope="module")
def tiny_voc(tmp_path_factory):
    from moana.data.synthetic import make_voc_dataset

    root = make_voc_dataset(tmp_path_factory.mktemp("voc"), seed=0, image_size=(24, 32),
                            num_train=6, num_val=2, num_classes=3, objects=(1, 2))
    ids = read_id_list(root / "ImageSets" / "Segmentation" / "train.txt")
    rng = np.random.default_rng(0)
    for image_id in ids:  # IR labels for the boundary network
        h, w = load_image_rgb(voc_image_path(root, image_id)).shape[:2]
        save_png(root / "ir" / f"{image_id}.png", rng.choice([0, 2, 255], size=(h, w)))
    return root, ids


def _record_lrs(monkeypatch) -> list[list[float]]:
    """The learning rate of every parameter group at every SGD step."""
    lrs: list[list[float]] = []
    real = torch.optim.SGD.step

    def step(self, *args, **kwargs):
        lrs.append([g["lr"] for g in self.param_groups])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", step)
    return lrs


def _assert_poly(lrs: list[list[float]], base: list[float], max_step: int) -> None:
    assert len(lrs) == max_step
    for k, row in enumerate(lrs):
        assert row == pytest.approx([irn_poly_lr(b, k, max_step) for b in base],
                                    rel=1e-6, abs=1e-12)


def test_step_scheduler_lr_sequence_survives_resume(tmp_path, monkeypatch):
    data = [(torch.randn(4, 3, generator=torch.Generator().manual_seed(i)), torch.zeros(4, 1))
            for i in range(3)]

    def step(model, batch, settings):
        return StepOutput(nn.functional.mse_loss(model(batch[0]), batch[1]), 4)

    def loop(folder):
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        return EpochLoop(model, data, optimizer, poly_scheduler(optimizer, 9), step,
                         LoopSettings(torch.device("cpu")), epochs=3, checkpoint_dir=folder,
                         scheduler_interval="step")

    lrs = _record_lrs(monkeypatch)
    history = loop(tmp_path / "a").run()
    _assert_poly(lrs, [0.1], 9)
    assert [r["lr"] for r in history] == pytest.approx([irn_poly_lr(0.1, k, 9) for k in (0, 3, 6)])
    real = trainer.train_one_epoch

    def dies_in_epoch_2(*args, epoch, **kwargs):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(*args, epoch=epoch, **kwargs)

    monkeypatch.setattr(trainer, "train_one_epoch", dies_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        loop(tmp_path / "b").run()
    monkeypatch.setattr(trainer, "train_one_epoch", real)
    lrs.clear()
    resumed = loop(tmp_path / "b")
    assert resumed.resume() == 1
    resumed.run()
    assert [row[0] for row in lrs] == pytest.approx([irn_poly_lr(0.1, k, 9) for k in range(3, 9)])
    with pytest.raises(ValueError, match="scheduler_interval"):
        EpochLoop(nn.Linear(1, 1), data, None, None, step, LoopSettings(torch.device("cpu")),
                  epochs=1, scheduler_interval="iteration")


def _cam_cfg(**kw) -> CamConfig:
    base = dict(arch="small", crop_size=32, resize_long=(24, 36), batch_size=2, epochs=2,
                lr=0.1, classifier_lr_mult=10.0, momentum=0.9, train_from="conv1")
    return CamConfig(**{**base, **kw})


def _train_cam(root, ids, out, **kw):
    return train_cam(_cam_cfg(), voc_root=root, train_ids=ids,
                     cls_labels=load_cls_labels(root / "cls_labels.npy"), method="cam",
                     attention_kw=None, out_path=out, seed=3, **kw)


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _equal(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_train_cam_poly_lr_determinism_and_resume(tiny_voc, tmp_path, monkeypatch):
    root, ids = tiny_voc
    lrs = _record_lrs(monkeypatch)
    first = _train_cam(root, ids, tmp_path / "a.pt")
    # 6 images, batch 2: 3 iterations per epoch; new layers at 10x (IRN), both groups poly
    assert sorted(lrs[0]) == pytest.approx([0.1, 1.0])
    _assert_poly(lrs, list(lrs[0]), 6)
    second = _train_cam(root, ids, tmp_path / "b.pt")
    assert first["loss_history"] == second["loss_history"]
    assert _equal(_weights(tmp_path / "a.pt"), _weights(tmp_path / "b.pt"))
    real, calls = CamStep.__call__, {"n": 0}

    def dies_in_epoch_2(self, *args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(CamStep, "__call__", dies_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        _train_cam(root, ids, tmp_path / "c.pt")
    assert (tmp_path / "c.pt.partial" / "last.pt").is_file()
    monkeypatch.setattr(CamStep, "__call__", real)
    resumed = _train_cam(root, ids, tmp_path / "c.pt")
    assert resumed["resumed_from"] == 1 and resumed["loss_history"] == first["loss_history"]
    assert _equal(_weights(tmp_path / "c.pt"), _weights(tmp_path / "a.pt"))
    assert not (tmp_path / "c.pt.partial").exists()


def test_train_irn_poly_lr_and_determinism(tiny_voc, tmp_path, monkeypatch):
    root, ids = tiny_voc
    cfg = IRNConfig(backbone="small", freeze_backbone=False, crop_size=32, rescale=(0.75, 1.25),
                    batch_size=2, epochs=2, radius=3, lr=0.05, momentum=0.9)
    lrs = _record_lrs(monkeypatch)

    def run(name):
        return train_irn(cfg, voc_root=root, train_ids=ids, ir_label_dir=root / "ir",
                         out_path=tmp_path / name, seed=1)

    first = run("a.pt")
    _assert_poly(lrs, [0.05], 6)  # 3 iterations per epoch, 2 epochs
    second = run("b.pt")
    assert first["loss_history"] == second["loss_history"] and first["resumed_from"] == 0
    assert _equal(_weights(tmp_path / "a.pt"), _weights(tmp_path / "b.pt"))


def test_train_seg_poly_lr(tmp_path, monkeypatch):
    from moana.data.synthetic import make_voc_dataset
    from moana.data.voc import LABEL_DIR
    from moana.wsss.config import SegConfig
    from moana.wsss.train_seg import train_seg

    root = make_voc_dataset(tmp_path / "voc", seed=0, image_size=(24, 32), num_train=4,
                            num_val=1, num_classes=3, objects=(1, 2))
    ids = read_id_list(root / "ImageSets" / "Segmentation" / "train.txt")
    cfg = SegConfig(backbone="small", crop_size=32, scale_range=(0.75, 1.25), batch_size=2,
                    iterations=5, lr=0.01, head_lr_mult=10.0, checkpoint_every=2)
    lrs = _record_lrs(monkeypatch)
    result = train_seg(cfg, voc_root=root, train_ids=ids, mask_dir=root / LABEL_DIR,
                       out_path=tmp_path / "seg.pt")
    _assert_poly(lrs, [0.01, 0.1], 5)  # epochs of 2, 2 and 1 iterations: one poly schedule
    assert len(result["loss_history"]) == 3


def test_bad_amp_is_clear(tiny_voc, tmp_path):
    root, ids = tiny_voc
    with pytest.raises(ValueError, match="amp must be"):
        _train_cam(root, ids, tmp_path / "a.pt", amp="fp8")
