"""WSSS step 7: DeepLabV3 on pseudo-masks (train_seg) and its val mIoU (eval_seg)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from moana.data.voc import LABEL_DIR, load_label_map, read_id_list
from moana.wsss._io import load_image_rgb, voc_image_path
from moana.wsss.config import SegConfig
from moana.wsss.eval_seg import eval_seg
from moana.wsss.train_seg import PseudoMaskDataset, build_seg_model, load_seg_model, train_seg


@pytest.fixture(scope="module")
def tiny_voc(tmp_path_factory):
    from moana.data.synthetic import make_voc_dataset

    root = make_voc_dataset(tmp_path_factory.mktemp("voc"), seed=0, image_size=(24, 32),
                            num_train=6, num_val=3, num_classes=3, objects=(1, 2))
    seg = root / "ImageSets" / "Segmentation"
    return root, read_id_list(seg / "train.txt"), read_id_list(seg / "val.txt")


def tiny_cfg(**kw) -> SegConfig:
    base = dict(backbone="small", crop_size=32, scale_range=(0.75, 1.25), batch_size=2,
                iterations=4, lr=0.01, checkpoint_every=2, eval_scales=(0.5, 1.0))
    return SegConfig(**{**base, **kw})


def test_dataset_crops_image_and_mask(tiny_voc):
    root, train, _ = tiny_voc
    dataset = PseudoMaskDataset(root, train, root / LABEL_DIR, crop_size=40)
    x, y = dataset[0]
    assert x.shape == (3, 40, 40) and y.shape == (40, 40) and y.dtype == torch.long
    assert set(np.unique(y.numpy())) <= {0, 1, 2, 3, 255}


def _interrupt_at(monkeypatch, module, call: int) -> None:
    """SegStep raises KeyboardInterrupt at its ``call``-th batch (1-based)."""
    real = module.SegStep.__call__
    calls = {"n": 0}

    def dies(self, *args):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(module.SegStep, "__call__", dies)


def test_train_seg_writes_a_model_and_resumes(tiny_voc, tmp_path, monkeypatch):
    import moana.wsss.train_seg as module

    root, train, _ = tiny_voc
    out = tmp_path / "seg.pt"
    _interrupt_at(monkeypatch, module, 4)  # dies in iteration 4 of 4 (checkpoint after 2)
    with pytest.raises(KeyboardInterrupt):
        train_seg(tiny_cfg(), voc_root=root, train_ids=train, mask_dir=root / LABEL_DIR,
                  out_path=out)
    assert not out.exists() and (tmp_path / "seg.pt.partial" / "last.pt").is_file()
    monkeypatch.undo()
    result = train_seg(tiny_cfg(), voc_root=root, train_ids=train, mask_dir=root / LABEL_DIR,
                       out_path=out)
    assert result["resumed_from"] == 2 and len(result["loss_history"]) == 2
    assert out.is_file() and not (tmp_path / "seg.pt.partial").exists()
    assert not load_seg_model(out).training
    fresh = train_seg(tiny_cfg(), voc_root=root, train_ids=train, mask_dir=root / LABEL_DIR,
                      out_path=tmp_path / "b.pt", overwrite=True)
    assert fresh["resumed_from"] == 0
    # the interrupted-then-resumed run equals the uninterrupted one (CPU, same seed)
    resumed, whole = (torch.load(p, weights_only=True)["state_dict"] for p in (out,
                                                                             tmp_path / "b.pt"))
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)
    assert result["loss_history"] == fresh["loss_history"]
    with pytest.raises(ValueError, match="batch"):
        train_seg(tiny_cfg(batch_size=8), voc_root=root, train_ids=train[:3],
                  mask_dir=root / LABEL_DIR, out_path=tmp_path / "c.pt")


def test_train_seg_overwrite_and_no_checkpoints(tiny_voc, tmp_path, monkeypatch):
    import moana.wsss.train_seg as module

    root, train, _ = tiny_voc
    out = tmp_path / "seg.pt"
    _interrupt_at(monkeypatch, module, 4)
    with pytest.raises(KeyboardInterrupt):
        train_seg(tiny_cfg(), voc_root=root, train_ids=train, mask_dir=root / LABEL_DIR,
                  out_path=out)
    monkeypatch.undo()
    result = train_seg(tiny_cfg(), voc_root=root, train_ids=train, mask_dir=root / LABEL_DIR,
                       out_path=out, overwrite=True)  # the checkpoint is discarded
    assert result["resumed_from"] == 0 and not (tmp_path / "seg.pt.partial").exists()
    _interrupt_at(monkeypatch, module, 4)
    with pytest.raises(KeyboardInterrupt):
        train_seg(tiny_cfg(), voc_root=root, train_ids=train, mask_dir=root / LABEL_DIR,
                  out_path=out)
    monkeypatch.undo()
    other = train_seg(tiny_cfg(checkpoint_every=3), voc_root=root, train_ids=train,
                      mask_dir=root / LABEL_DIR, out_path=out)  # another epoch plan
    assert other["resumed_from"] == 0 and len(other["loss_history"]) == 2
    single = train_seg(tiny_cfg(checkpoint_every=0, iterations=3), voc_root=root,
                       train_ids=train, mask_dir=root / LABEL_DIR, out_path=tmp_path / "d.pt")
    assert len(single["loss_history"]) == 1 and not (tmp_path / "d.pt.partial").exists()


class _Constant(nn.Module):
    """Predicts class ``k`` everywhere (logit 5 against 0)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x):
        out = torch.zeros(x.shape[0], 21, *x.shape[-2:])
        out[:, self.k] = 5.0
        return OrderedDict(out=out)


def test_eval_seg_miou_matches_a_direct_count(tiny_voc, tmp_path):
    root, _, val = tiny_voc
    result = eval_seg(_Constant(0), voc_root=root, image_ids=val, out_dir=tmp_path / "pred",
                      scales=(0.5, 1.0))
    gts = [load_label_map(root / LABEL_DIR / f"{i}.png") for i in val]
    valid = np.concatenate([g[g != 255] for g in gts])
    bg_iou = (valid == 0).sum() / valid.size  # predicted 0 everywhere
    present = len(np.unique(valid))  # every present fg class has IoU 0
    assert result["miou_pct"] == pytest.approx(100 * bg_iou / present)
    assert result["miou_msf_pct"] == pytest.approx(result["miou_pct"])
    iou = result["iou"].set_index("class")
    assert iou.loc["background", "iou_pct"] == pytest.approx(100 * bg_iou)
    assert np.isnan(iou.loc["train", "iou_pct"])  # absent everywhere
    pred = load_image_rgb(voc_image_path(root, val[0]))
    assert (tmp_path / "pred" / f"{val[0]}.png").is_file() and pred.ndim == 3
    with pytest.raises(ValueError, match="empty"):
        eval_seg(_Constant(0), voc_root=root, image_ids=[], out_dir=tmp_path / "p2")


def test_seg_backbones_and_local_weights_only(tmp_path):
    model = build_seg_model("small")
    assert model(torch.zeros(2, 3, 33, 41))["out"].shape == (2, 21, 33, 41)
    with pytest.raises(ValueError, match="seg.backbone"):
        build_seg_model("vgg16")
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        build_seg_model("resnet101", pretrained=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="no pretrained"):
        build_seg_model("small", pretrained="x.pth")
    weights = torchvision.models.resnet50(weights=None).state_dict()
    torch.save(weights, tmp_path / "r50.pth")
    model = build_seg_model("resnet50", pretrained=str(tmp_path / "r50.pth"))
    assert torch.equal(model.backbone.conv1.weight, weights["conv1.weight"])
    torch.save({"conv1.weight": weights["conv1.weight"]}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a torchvision resnet50"):
        build_seg_model("resnet50", pretrained=str(tmp_path / "bad.pth"))
