"""moana.cam: resizing, the two normalizations, NaN policy, the heatmap file contract and the
model-running helper."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from moana.cam import (
    iter_scoremaps,
    load_scoremap,
    normalize_scoremap,
    resize_cam,
    save_scoremaps,
    scoremap_from_cam,
    scoremap_path,
)


def test_resize_is_float64_inter_cubic():
    cam = np.random.default_rng(0).random((7, 7)).astype(np.float32)
    out = resize_cam(cam, (224, 224))
    assert out.dtype == np.float64 and out.shape == (224, 224)
    expected = cv2.resize(cam.astype(np.float64), (224, 224), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(out, expected)
    assert resize_cam(cam, (30, 20)).shape == (20, 30)  # (width, height) as OpenCV


def test_minmax():
    cam = np.array([[1.0, 3.0], [2.0, 5.0]])
    np.testing.assert_allclose(normalize_scoremap(cam), [[0, 0.5], [0.25, 1]])
    np.testing.assert_array_equal(normalize_scoremap(np.full((3, 3), 4.0)), np.zeros((3, 3)))
    assert cam[0, 0] == 1.0  # input untouched


def test_moana_official():
    cam = np.arange(100, dtype=np.float64).reshape(10, 10)
    out = normalize_scoremap(cam, "moana_official")
    p65 = np.percentile(cam, 65)
    np.testing.assert_allclose(out, np.clip((cam - p65) / (99 - p65), 0, 1))
    assert out.min() == 0 and out.max() == 1
    assert (normalize_scoremap(np.ones((4, 4)), "moana_official") == 0).all()
    with pytest.raises(ValueError, match="normalization"):
        normalize_scoremap(cam, "softmax")


def test_nan_policies():
    cam = np.ones((5, 5))
    cam[2, 2] = np.nan
    with pytest.warns(RuntimeWarning, match="NaN"):
        assert (normalize_scoremap(cam) == 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (normalize_scoremap(cam, nan_policy="zeros") == 0).all()
    with pytest.raises(ValueError, match="broken model"):
        normalize_scoremap(cam, nan_policy="raise")
    with pytest.raises(ValueError, match="broken model"):
        scoremap_from_cam(cam, nan_policy="raise")
    assert scoremap_from_cam(cam, nan_policy="zeros", size=(8, 6)).shape == (6, 8)


def test_save_load_contract(tmp_path):
    maps = [np.random.default_rng(i).random((224, 224)) for i in range(2)]
    ids = ["001.Black_footed_Albatross/a_1.jpg", "b.JPEG"]
    save_scoremaps(tmp_path, ids, maps)
    assert scoremap_path(tmp_path, ids[0]) == tmp_path / "001.Black_footed_Albatross" / "a_1.npy"
    for i, m in zip(ids, maps):
        np.testing.assert_array_equal(load_scoremap(tmp_path, i), m)
    assert not list(tmp_path.rglob("*.tmp"))
    np.save(tmp_path / "other.png.npy", maps[0])  # wsolevaluation loader form: id + ".npy"
    np.testing.assert_array_equal(load_scoremap(tmp_path, "other.png"), maps[0])
    with pytest.raises(FileNotFoundError, match="missing"):
        load_scoremap(tmp_path, "missing.jpg")
    (tmp_path / "bad.npy").write_text("not numpy")
    with pytest.raises(ValueError, match="bad.npy"):
        load_scoremap(tmp_path, "bad.jpg")


class TinyCAM(nn.Module):
    def __init__(self, num_classes=6):
        super().__init__()
        self.conv = nn.Conv2d(3, num_classes, 1)

    def forward_with_maps(self, x):
        maps = self.conv(x)
        return maps.mean(dim=(2, 3)), maps


def test_iter_scoremaps_protocols():
    torch.manual_seed(0)
    model = TinyCAM().train()
    images = torch.randn(3, 3, 8, 8)
    labels = torch.tensor([0, 5, 2])
    loader = [(images, labels, ["x/1.jpg", "x/2.jpg", "x/3.jpg"])]
    items = list(iter_scoremaps(model, loader))
    assert model.training  # restored
    assert [i.image_id for i in items] == ["x/1.jpg", "x/2.jpg", "x/3.jpg"]
    logits, maps = model.forward_with_maps(images)
    for i, item in enumerate(items):
        assert item.label == int(labels[i]) and len(item.top5) == 5
        assert item.top5 == logits[i].topk(5).indices.tolist()
        expected = normalize_scoremap(resize_cam(maps[i, labels[i]].detach().numpy()))
        np.testing.assert_allclose(item.scoremap, expected)
    pred = list(iter_scoremaps(model, loader, protocol="predicted", normalization="moana_official"))
    top1 = logits.argmax(1)
    expected = normalize_scoremap(resize_cam(maps[0, top1[0]].detach().numpy()), "moana_official")
    np.testing.assert_allclose(pred[0].scoremap, expected)


def test_iter_scoremaps_nan_model_raises():
    model = TinyCAM()
    with torch.no_grad():
        model.conv.weight.fill_(float("nan"))
    loader = [(torch.randn(1, 3, 4, 4), torch.tensor([0]), ["a.jpg"])]
    with pytest.raises(ValueError, match="NaN"):
        list(iter_scoremaps(model, loader))
    with pytest.warns(RuntimeWarning):
        (item,) = list(iter_scoremaps(model, loader, nan_policy="warn"))
    assert (item.scoremap == 0).all()
