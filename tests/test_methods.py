"""WSOL methods (moana.methods): each method's defining behaviour, restated from wsolevaluation
(clovaai/wsolevaluation wsol/method/*.py, main.py), and the hook contract on every backbone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from moana.methods import METHOD_DEFAULTS, batch_augmentation, method_options
from moana.methods.acol import erase, normalize_maps
from moana.methods.cutmix import cutmix
from moana.methods.has import hide_patches
from moana.methods.spg import guidance_loss, guidance_mask
from moana.models import build_model
from moana.nn.adl import ADL

ZOO = ("has", "cutmix", "acol", "spg", "adl")


# ----------------------------------------------------------------------------- HaS
def test_has_hides_the_drawn_grid_cells() -> None:
    images = torch.rand(3, 2, 10, 9) + 1.0
    out = hide_patches(images, grid_size=4, drop_rate=0.5, generator=torch.Generator().manual_seed(3))
    draws = torch.rand(3, 3, 3, generator=torch.Generator().manual_seed(3))  # same draws, one per cell
    for b in range(3):
        for r, y in enumerate(range(0, 10, 4)):
            for c, x in enumerate(range(0, 9, 4)):
                cell = out[b, :, y:y + 4, x:x + 4]
                if draws[b, r, c] <= 0.5:  # wsolevaluation: random() <= drop_rate hides
                    assert torch.all(cell == 0)
                else:
                    assert torch.equal(cell, images[b, :, y:y + 4, x:x + 4])
    assert hide_patches(images, grid_size=0) is images


def test_has_rate_and_errors() -> None:
    out = hide_patches(torch.ones(64, 1, 32, 32), grid_size=4, drop_rate=0.3, generator=torch.Generator().manual_seed(0))
    hidden = (out[:, 0, ::4, ::4] == 0).float().mean().item()
    assert abs(hidden - 0.3) < 0.03  # 4096 cells
    with pytest.raises(ValueError, match="grid_size"):
        hide_patches(torch.ones(1, 1, 4, 4), grid_size=-1)
    with pytest.raises(ValueError, match="drop_rate"):
        hide_patches(torch.ones(1, 1, 4, 4), drop_rate=1.5)
    aug = batch_augmentation("has", has_grid_size=2, has_drop_rate=1.0)
    imgs, targets = aug(torch.ones(2, 3, 4, 4), torch.tensor([0, 1]), torch.Generator().manual_seed(0))
    assert torch.all(imgs == 0) and targets.tolist() == [0, 1]


# ----------------------------------------------------------------------------- CutMix
@pytest.mark.parametrize("seed", range(6))
def test_cutmix_mixes_labels_by_pasted_area(seed: int) -> None:
    b, h, w = 4, 12, 10
    images = torch.arange(1, b + 1, dtype=torch.float32).view(b, 1, 1, 1).expand(b, 3, h, w).clone()
    labels = torch.arange(b)
    mixed, targets = cutmix(images, labels, num_classes=6, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(images[:, 0, 0, 0], torch.arange(1, b + 1, dtype=torch.float32))  # input untouched
    assert targets.shape == (b, 6)
    torch.testing.assert_close(targets.sum(1), torch.ones(b))
    for i in range(b):
        own = (mixed[i, 0] == i + 1).float().mean().item()
        region = mixed[i, 0] != i + 1
        if region.any():  # the pasted pixels form one box from one partner
            ys, xs = torch.nonzero(region, as_tuple=True)
            assert region[ys.min():ys.max() + 1, xs.min():xs.max() + 1].all()
            partner = int(mixed[i, 0][region][0].item()) - 1
            assert torch.all(mixed[i, 0][region] == partner + 1)
            assert targets[i, partner].item() == pytest.approx(1 - own)
        assert targets[i, i].item() == pytest.approx(own) or bool(region.any()) is False
    # wsolevaluation's loss: lam * CE(a) + (1 - lam) * CE(b) = CE with the soft target
    logits = torch.randn(b, 6)
    net = build_model("small", method="cutmix", num_classes=6)
    lam_ce = sum(targets[:, k] * F.cross_entropy(logits, torch.full((b,), k), reduction="none") for k in range(6))
    torch.testing.assert_close(net.loss(logits, targets), lam_ce.mean())


def test_cutmix_probability_and_narrow_targets() -> None:
    images, labels = torch.randn(3, 3, 8, 8), torch.tensor([0, 1, 1])
    out, targets = cutmix(images, labels, prob=0.0, generator=torch.Generator().manual_seed(0))
    assert out is images and targets is labels
    _, soft = batch_augmentation("cutmix")(images, labels, torch.Generator().manual_seed(1))
    assert soft.shape == (3, 2)  # width labels.max() + 1; the loss pads it to K
    net = build_model("small", method="cutmix", num_classes=5)
    logits = torch.randn(3, 5)
    torch.testing.assert_close(net.loss(logits, soft), net.loss(logits, F.pad(soft, (0, 3))))
    assert batch_augmentation("acol") is None and batch_augmentation("moana") is None
    with pytest.raises(ValueError, match="has_drop_rate"):
        batch_augmentation("cutmix", has_drop_rate=0.3)


# ----------------------------------------------------------------------------- ACoL
def test_acol_erases_at_and_above_its_threshold() -> None:
    feature = torch.rand(1, 2, 1, 4) + 1
    attention = torch.tensor([[[[0.2, 0.7, 0.69, 1.0]]]])
    out = erase(feature, attention, 0.7)
    assert torch.equal(out[0, :, 0], feature[0, :, 0] * torch.tensor([1.0, 0.0, 1.0, 0.0]))


def test_acol_constant_map_erases_nothing_as_wsolevaluation() -> None:
    # wsolevaluation: normalize_tensor of a constant map is 0/0 = NaN, torch.ge(NaN, t) is
    # False, so _erase_attention's mask stays 1 everywhere and the feature is kept whole
    feature = torch.rand(2, 3, 4, 4) + 0.5
    for constant in (torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 3.0)):
        attention = normalize_maps(constant)
        assert torch.isnan(attention).all()
        kept = torch.ones(2, 1, 4, 4)
        kept[torch.ge(attention, 0.7)] = 0.0
        assert torch.equal(erase(feature, attention, 0.7), feature * kept)
        assert torch.equal(erase(feature, attention, 0.7), feature)


def test_acol_branch_b_sees_the_feature_erased_by_branch_a() -> None:
    torch.manual_seed(0)
    net = build_model("small", method="acol", num_classes=3, method_kw={"acol_threshold": 0.5}).train()
    seen = {}
    net.classifier_B.register_forward_pre_hook(lambda m, args: seen.setdefault("erased", args[0]))
    net.trunk = (lambda f: (lambda x: seen.setdefault("feature", f(x))))(net.trunk)
    x, labels = torch.randn(2, 3, 32, 32), torch.tensor([2, 0])
    out = net(x, labels=labels)
    att = normalize_maps(out["feat_map_a"].detach()[torch.arange(2), labels].unsqueeze(1))
    keep = (att < 0.5).float()
    assert 0 < keep.mean() < 1
    torch.testing.assert_close(seen["erased"], seen["feature"] * keep)
    loss = net.loss(out, labels)
    torch.testing.assert_close(loss, F.cross_entropy(out["logits"], labels) + F.cross_entropy(out["logit_b"], labels))
    net.eval()
    with torch.no_grad():
        logits, maps = net.forward_with_maps(x, labels)
    assert maps.shape == (2, 3, 8, 8) and float(maps.min()) >= 0 and float(maps.max()) <= 1


# ----------------------------------------------------------------------------- ADL
def test_adl_drop_mask_and_importance_map() -> None:
    x = torch.randn(2, 5, 6, 6)
    attention = x.mean(1, keepdim=True)
    peak = attention.flatten(1).max(1)[0].view(2, 1, 1, 1)
    dropped = ADL(5, drop_rate=1.0, drop_threshold=0.9).train()(x)
    torch.testing.assert_close(dropped, x * (attention < 0.9 * peak).float())
    importance = ADL(5, drop_rate=0.0, drop_threshold=0.9).train()(x)
    torch.testing.assert_close(importance, x * torch.sigmoid(attention))


def test_adl_method_uses_wsolevaluation_defaults_and_positions_on_small() -> None:
    net = build_model("small", method="adl", num_classes=3)
    assert sorted(net.adl) == ["layer3", "layer4"] and net.attention_modules() == []
    assert {(m.drop_rate, m.drop_threshold) for m in net.adl.values()} == {(0.75, 0.9)}
    single = build_model("small", method="adl_last", num_classes=3)
    (module,) = single.attention_modules()
    assert isinstance(module, ADL) and module.drop_threshold == 0.8 and len(single.adl) == 0


@pytest.mark.slow
def test_adl_insertion_points_of_wsolevaluation() -> None:
    vgg = build_model("vgg16", method="adl", num_classes=3, large_feature_map=False)
    assert sorted(vgg.adl, key=int) == ["16", "22", "29"]
    resnet = build_model("resnet50", method="adl", num_classes=3)
    assert sorted(resnet.adl) == ["layer3_0", "layer4_0", "layer4_2"]
    inception = build_model("inception_v3", method="adl", num_classes=3)
    assert sorted(inception.adl) == ["Mixed_5d", "Mixed_6e"] and isinstance(inception.head[6], ADL)
    assert not any(isinstance(m, torch.nn.Dropout) for m in inception.head)


# ----------------------------------------------------------------------------- SPG
def _mask_restated(att: torch.Tensor, high: float, low: float) -> torch.Tensor:
    mask = torch.full_like(att, 255.0)
    for b in range(att.shape[0]):
        fg = att[b] > high
        if fg.sum() < 30:
            fg = att[b] > att[b].max() * 0.7
        mask[b][fg] = 1.0
    mask[att < low] = 0.0
    return mask


def test_spg_guidance_masks_are_thresholded_attention() -> None:
    g = torch.Generator().manual_seed(0)
    att = torch.rand(3, 1, 12, 12, generator=g)
    att[1] *= 0.5  # few pixels above 0.7: the 0.7 * max fallback
    mask = guidance_mask(att, 0.7, 0.05)
    torch.testing.assert_close(mask, _mask_restated(att, 0.7, 0.05))
    assert (mask[1] == 1).sum() > 0 and set(mask.unique().tolist()) <= {0.0, 1.0, 255.0}
    logits = torch.randn(3, 1, 6, 6, generator=g)
    up = F.interpolate(logits, size=(12, 12), mode="bilinear", align_corners=False)
    valid = mask < 255
    want = F.binary_cross_entropy_with_logits(up[valid], mask[valid])
    torch.testing.assert_close(guidance_loss(logits, att, 0.7, 0.05), want)


def test_spg_outputs_and_loss_on_small() -> None:
    torch.manual_seed(0)
    net = build_model("small", method="spg", num_classes=3).train()
    x, labels = torch.randn(2, 3, 32, 32), torch.tensor([1, 2])
    out = net(x, labels=labels)
    assert {"logits", "logits_b1", "logits_b2", "logits_c", "attention", "fused_attention"} <= set(out)
    assert out["attention"].shape == (2, 1, 32, 32)
    assert float(out["attention"].amin()) == 0.0 and float(out["attention"].amax()) == 1.0
    loss = net.loss(out, labels)
    assert loss > F.cross_entropy(out["logits"], labels)
    loss.backward()
    assert net.SPG_C[0].weight.grad is not None and net.SPG_B_shared[0].weight.grad is not None


# ----------------------------------------------------------------------------- options
def test_method_options_validate_keys() -> None:
    assert method_options("acol", None) == METHOD_DEFAULTS["acol"]
    assert method_options("adl", {"adl_threshold": 0.8}) == {"adl_drop_rate": 0.75, "adl_threshold": 0.8}
    with pytest.raises(ValueError, match="do not apply to method 'acol'"):
        build_model("small", method="acol", num_classes=3, method_kw={"adl_threshold": 0.8})
    with pytest.raises(ValueError, match="no keys"):
        build_model("small", method="cam", num_classes=3, method_kw={"acol_threshold": 0.5})
    with pytest.raises(ValueError, match="must be a number"):
        method_options("has", {"has_grid_size": "four"})
    with pytest.raises(ValueError, match="built on"):
        build_model("resnet18", method="acol", num_classes=3)


# ----------------------------------------------------------------------------- hooks
def _one_step(arch: str, method: str, size: int) -> None:
    torch.manual_seed(0)
    net = build_model(arch, method=method, num_classes=3).train()
    opt = torch.optim.SGD(net.param_groups(lr=0.01, backbone_lr=0.001), momentum=0.9)
    images, labels = torch.randn(2, 3, size, size), torch.tensor([0, 2])
    aug = batch_augmentation(method, **net.method_kw, num_classes=3) if method in ("has", "cutmix") else None
    images, targets = aug(images, labels, torch.Generator().manual_seed(0)) if aug else (images, labels)
    outputs = net(images, labels=labels)
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs
    assert logits.shape == (2, 3)
    loss = net.loss(outputs, targets)
    assert torch.isfinite(loss)
    opt.zero_grad()
    loss.backward()
    opt.step()
    net.eval()
    with torch.no_grad():
        assert net(images).shape == (2, 3)
        cams = net.cams(images, labels)
    assert cams.dim() == 3 and cams.shape[0] == 2 and torch.isfinite(cams).all()


@pytest.mark.parametrize("method", ZOO)
def test_every_method_trains_a_step_on_small(method: str) -> None:
    _one_step("small", method, 32)


@pytest.mark.slow
@pytest.mark.parametrize("arch,size", [("vgg16", 32), ("resnet50", 32), ("inception_v3", 64)])
@pytest.mark.parametrize("method", ZOO)
def test_every_method_trains_a_step_on_wsolevaluation_backbones(arch: str, size: int, method: str) -> None:
    _one_step(arch, method, size)


# ----------------------------------------------------------------------------- configs
@pytest.mark.parametrize("dataset", ["cub", "ilsvrc", "smoke"])
@pytest.mark.parametrize("method", ZOO)
def test_shipped_method_configs(dataset: str, method: str) -> None:
    from moana.train.config import load_config

    archs = ["small"] if dataset == "smoke" else ["resnet50", "vgg16", "inception_v3"]
    for arch in archs:
        name = f"smoke_{method}" if dataset == "smoke" else f"{dataset}_{arch}_{method}"
        cfg = load_config(name)
        base = load_config("smoke_cam" if dataset == "smoke" else f"{dataset}_{arch}_cam")
        assert (cfg.model.arch, cfg.model.method) == (arch, method)
        assert cfg.model.method_kw == METHOD_DEFAULTS[method]  # wsolevaluation's config.py defaults
        assert cfg.model.large_feature_map == base.model.large_feature_map and cfg.optim == base.optim


@pytest.mark.slow
@pytest.mark.parametrize("method", ["acol", "spg", "adl"])
def test_vgg_method_variants_load_torchvision_backbone_weights(tmp_path, method: str) -> None:
    from torchvision.models.vgg import cfgs, make_layers

    state = {f"features.{k}": v for k, v in make_layers(cfgs["D"]).state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(1)  # the ImageNet head is ignored
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    net = build_model("vgg16", method=method, num_classes=3, pretrained=path, large_feature_map=False)
    own = net.state_dict()
    for key in ("features.0.weight", "features.17.weight", "features.28.bias"):  # conv1_1, conv4_1, conv5_3
        assert torch.equal(own[key], state[key])
