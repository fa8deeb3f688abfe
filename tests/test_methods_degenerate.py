"""Constant and all-zero maps and inputs through every WSOL method (CAM, HaS, CutMix, ADL,
SPG; ACoL in tests/test_methods.py), against wsolevaluation's behaviour restated on small
tensors (clovaai/wsolevaluation ``wsol/method/{spg,adl,util}.py``, ``inference.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from moana.cam import normalize_scoremap
from moana.methods.cutmix import cutmix
from moana.methods.has import hide_patches
from moana.methods.spg import guidance_loss, guidance_mask
from moana.models import build_model
from moana.nn.adl import ADL


def _reference_normalize(maps):
    """wsolevaluation's normalize_tensor: per (b, k) min-max, 0/0 -> NaN."""
    flat = maps.flatten(2)
    lo, hi = flat.min(dim=2, keepdim=True)[0], flat.max(dim=2, keepdim=True)[0]
    return ((flat - lo) / (hi - lo)).view_as(maps)


def _reference_spg_mask(attention, high, low):
    """wsolevaluation's get_mask: 255 everywhere, 1 above ``high`` (0.7 * max when fewer than
    30 pixels pass), then 0 below ``low``."""
    mask = torch.full_like(attention, 255.0)
    for b in range(attention.shape[0]):
        fg = attention[b] > high
        if fg.float().sum() < 30:
            fg = attention[b] > attention[b].max() * 0.7
        mask[b][fg] = 1.0
    mask[attention < low] = 0.0
    return mask


def _reference_bce(logits, mask):
    valid = mask.view(-1) < 255
    return F.binary_cross_entropy_with_logits(logits.reshape(-1)[valid], mask.reshape(-1)[valid])


CASES = {"constant class map (NaN attention)": torch.full((2, 1, 8, 8), 3.0),
         "all-zero class map": torch.zeros(2, 1, 8, 8)}


@pytest.mark.parametrize("name", list(CASES))
def test_spg_guidance_of_a_constant_map(name):
    attention = _reference_normalize(CASES[name])  # what SPG's ``attention`` is: NaN
    assert torch.isnan(attention).all()
    ours = guidance_mask(attention, 0.7, 0.01)
    torch.testing.assert_close(ours, _reference_spg_mask(attention, 0.7, 0.01))
    assert (ours == 255).all()  # every pixel ignored, in both
    logits = torch.randn(2, 1, 4, 4)
    assert torch.isnan(_reference_bce(F.interpolate(logits, size=(8, 8), mode="bilinear"), ours))
    loss = guidance_loss(logits.requires_grad_(), attention, 0.7, 0.01)
    assert loss.item() == 0.0  # documented departure: 0 instead of the reference's NaN
    loss.backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_spg_guidance_of_a_constant_attention(value):
    """sigmoid of all-zero side logits is 0.5 everywhere (fused attention, b2i)."""
    attention = torch.full((2, 1, 8, 8), value)
    for high, low in ((0.7, 0.01), (0.5, 0.05), (0.7, 0.1)):
        ours = guidance_mask(attention, high, low)
        ref = _reference_spg_mask(attention, high, low)
        torch.testing.assert_close(ours, ref)
        logits = torch.zeros(2, 1, 4, 4)
        up = F.interpolate(logits, size=(8, 8), mode="bilinear", align_corners=False)
        torch.testing.assert_close(guidance_loss(logits, attention, high, low),
                                   _reference_bce(up, ref))


@pytest.mark.parametrize("value", [0.0, 2.0, -2.0])
@pytest.mark.parametrize("drop", [True, False])
def test_adl_on_constant_features_matches_the_reference(value, drop):
    x = torch.full((2, 4, 3, 3), value)
    layer = ADL(4, drop_rate=1.0 if drop else 0.0, drop_threshold=0.8).train()
    attention = x.mean(dim=1, keepdim=True)
    peak = attention.view(2, -1).max(dim=1, keepdim=True)[0].view(2, 1, 1, 1)
    ref = x * ((attention < peak * 0.8).float() if drop else torch.sigmoid(attention))
    out = layer(x)
    torch.testing.assert_close(out, ref)
    assert torch.isfinite(out).all()


def test_has_and_cutmix_on_all_zero_and_constant_images():
    g = torch.Generator().manual_seed(0)
    for images in (torch.zeros(3, 3, 5, 7), torch.full((3, 3, 5, 7), 2.0)):
        for rate in (0.0, 0.5, 1.0):
            hidden = hide_patches(images, 2, rate, g)
            assert torch.isfinite(hidden).all() and set(hidden.unique().tolist()) <= {0.0, 2.0}
        mixed, targets = cutmix(images, torch.tensor([0, 1, 2]), num_classes=3, generator=g)
        assert torch.isfinite(mixed).all() and torch.isfinite(targets).all()
        torch.testing.assert_close(targets.sum(dim=1), torch.ones(3))
    one, targets = cutmix(torch.zeros(2, 3, 1, 1), torch.tensor([0, 1]), num_classes=2,
                          generator=g)  # a 1x1 image: an empty box, lam = 1
    assert torch.equal(targets, F.one_hot(torch.tensor([0, 1]), 2).float())


@pytest.mark.parametrize("method", ["minmax", "moana_official"])
def test_constant_cam_scores_as_zeros_like_the_reference(method):
    for cam in (np.zeros((4, 4)), np.full((4, 4), 7.5)):
        out = normalize_scoremap(cam, method, nan_policy="raise")
        assert np.array_equal(out, np.zeros((4, 4)))  # wsolevaluation: a zero array


@pytest.mark.parametrize("method", ["cam", "has", "cutmix", "adl", "spg", "moana"])
@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_methods_train_and_infer_without_nan_on_constant_images(method, fill):
    torch.manual_seed(0)
    model = build_model("small", method=method, num_classes=3, zero_classifier=True).train()
    x, y = torch.full((2, 3, 32, 32), fill), torch.tensor([0, 2])
    out = model(x, y) if method == "spg" else model(x)
    loss = model.loss(out, y) if hasattr(model, "loss") else F.cross_entropy(out, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.eval()
    with torch.no_grad():
        cams = model.cams(x, y)
    assert torch.isfinite(cams).all()
    for cam in cams.numpy():
        assert np.isfinite(normalize_scoremap(cam, nan_policy="raise")).all()
