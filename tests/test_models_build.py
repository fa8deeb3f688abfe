"""Shapes, CAM interface, parameter groups and argument checks of moana.models.build_model."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.inception import Inception3
from torchvision.models.vgg import cfgs, make_layers

from moana.models import ARCHS, build_model
from moana.nn import MoANA

# smallest inputs that keep every arch fast on one core (maps: small 16, resnets 8, vgg 8, inception 4)
SIZES = {"small": 64, "resnet18": 32, "resnet50": 32, "vgg16": 32, "inception_v3": 32,
         "efficientnet_lite0": 64, "efficientnet_lite2": 64}
EXPECTED_MAP = {"small": 16, "resnet18": 4, "resnet50": 4, "vgg16": 4, "inception_v3": 4,
                "efficientnet_lite0": 2, "efficientnet_lite2": 2}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", ["cam", "moana"])
def test_shapes_and_cam_interface(arch: str, method: str) -> None:
    if arch.startswith("efficientnet_lite"):
        pytest.importorskip("timm")
    torch.manual_seed(0)
    model = build_model(arch, method=method, num_classes=4).eval()
    size = SIZES[arch]
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        logits, maps = model.forward_with_maps(x)
        assert logits.shape == (2, 4)
        assert maps.shape == (2, 4, EXPECTED_MAP[arch], EXPECTED_MAP[arch])
        torch.testing.assert_close(model(x), logits)
        torch.testing.assert_close(maps.mean(dim=(2, 3)), logits)
        cams = model.cams(x, torch.tensor([3, 1]))
    torch.testing.assert_close(cams, torch.stack([maps[0, 3], maps[1, 1]]))
    assert model.arch == arch and model.method == method and model.num_classes == 4
    modules = model.attention_modules()
    assert len(modules) == (0 if method == "cam" else 1)
    assert all(isinstance(m, MoANA) for m in modules)


@pytest.mark.parametrize("arch", ["small", "resnet18"])
def test_insert_at_layer3(arch: str) -> None:
    model = build_model(arch, method="moana", num_classes=3, insert_at="layer3")
    (module,) = model.attention_modules()
    expected_channels = {"small": 128, "resnet18": 256}[arch]
    assert module.channels == expected_channels
    model.train()
    loss = model(torch.randn(2, 3, 32, 32)).sum()
    loss.backward()
    assert all(p.grad is not None for p in module.parameters())


def test_insert_at_layer3_vgg_inception_channels() -> None:
    vgg = build_model("vgg16", method="moana", num_classes=2, insert_at="layer3")
    inc = build_model("inception_v3", method="moana", num_classes=2, insert_at="layer3")
    assert vgg.attention_modules()[0].channels == 512
    assert inc.attention_modules()[0].channels == 288
    with torch.no_grad():
        assert vgg.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 2)
        assert inc.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 2)


def test_gradients_reach_every_moana_parameter_in_resnet50() -> None:
    torch.manual_seed(0)
    model = build_model("resnet50", method="moana", num_classes=3).train()
    model(torch.randn(2, 3, 32, 32)).logsumexp(1).sum().backward()
    (module,) = model.attention_modules()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_resnet50_official_layout_and_output_strides() -> None:
    model = build_model("resnet50", method="moana", num_classes=5)
    keys = set(model.state_dict())
    assert {"layer4.3.conv_c.weight", "layer4.3.conv_h.weight", "layer4.3.conv_w.weight",
            "layer4.3.bn1.running_mean", "layer4.3.bn3.weight",
            "classifier.0.weight", "classifier.0.bias"} <= keys
    assert not any(k.startswith("fc.") for k in keys)
    # the official full axis convolutions add about 25M parameters to ResNet-50
    cam = build_model("resnet50", method="cam", num_classes=5)
    extra = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in cam.parameters())
    assert extra == 2 * 2048 * 2048 * 3 + 3 + 3 * 2 * 2048
    with torch.no_grad():
        for stride, size in [(8, 8), (16, 4), (32, 2)]:
            net = build_model("resnet50", method="cam", num_classes=2, output_stride=stride).eval()
            assert net.class_maps(torch.randn(1, 3, 64, 64)).shape[-1] == size


def test_depthwise_attention_kw_and_other_factory_kwargs() -> None:
    model = build_model("small", method="moana", num_classes=3,
                        attention_kw={"axis_conv": "depthwise", "calibration": "wsss"})
    (module,) = model.attention_modules()
    assert module.axis_conv == "depthwise" and module.calibration == (0.35, 0.65)
    assert module.conv_h.weight.shape == (128, 1, 3)


def test_param_groups_split() -> None:
    model = build_model("resnet18", method="moana", num_classes=3)
    groups = model.param_groups(lr=0.1, backbone_lr=0.01)
    by_name = {g["name"]: g for g in groups}
    assert by_name["new"]["lr"] == 0.1 and by_name["backbone"]["lr"] == 0.01
    new_ids = {id(p) for p in by_name["new"]["params"]}
    back_ids = {id(p) for p in by_name["backbone"]["params"]}
    assert not new_ids & back_ids
    assert new_ids | back_ids == {id(p) for p in model.parameters()}
    expected_new = {id(p) for p in model.attention_modules()[0].parameters()}
    expected_new |= {id(p) for p in model.classifier.parameters()}
    assert new_ids == expected_new
    torch.optim.SGD(groups, lr=0.5)  # accepted by an optimizer
    vgg = build_model("vgg16", method="cam", num_classes=3)
    vgg_new = {id(p) for g in vgg.param_groups(1.0, 0.1) if g["name"] == "new" for p in g["params"]}
    assert {id(vgg.conv6.weight), id(vgg.classifier[0].weight)} <= vgg_new


def test_backbone_keys_match_torchvision() -> None:
    vgg = build_model("vgg16", method="moana", num_classes=3)
    tv_vgg = {f"features.{k}" for k in make_layers(cfgs["D"]).state_dict()}
    assert set(vgg.backbone_state_keys()) == tv_vgg
    inc = build_model("inception_v3", method="moana", num_classes=3)
    tv_inc = {
        k for k in Inception3(aux_logits=False, init_weights=False).state_dict()
        if not k.startswith(("Mixed_7", "fc."))
    }
    assert set(inc.backbone_state_keys()) == tv_inc


def test_cams_label_errors() -> None:
    model = build_model("small", method="cam", num_classes=3).eval()
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(ValueError, match="labels"):
        model.cams(x, [0])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        model.cams(x, [0, 3])


@pytest.mark.parametrize(
    "args,kwargs,match",
    [
        (("alexnet",), {"num_classes": 3}, "unknown arch"),
        (("small",), {"num_classes": 3, "method": "transformer"}, "unknown method"),
        (("small",), {"num_classes": 0}, "num_classes"),
        (("small",), {"num_classes": 3, "insert_at": "layer2"}, "insert_at"),
        (("resnet50",), {"num_classes": 3, "output_stride": 4}, "output_stride"),
        (("vgg16",), {"num_classes": 3, "output_stride": 16}, "resnets only"),
        (("small",), {"num_classes": 3, "attention_kw": {"axes": "xyz"}}, "unknown axes"),
        (("small",), {"num_classes": 3, "method": "cam", "attention_kw": {"axes": "c"}}, "no attention"),
    ],
)
def test_bad_arguments(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_model(*args, **kwargs)


def test_other_factory_methods_build_when_present() -> None:
    from moana.nn import attention_names

    # the "adl" layer as a single attention module is method "adl_last" ("adl" is wsolevaluation's ADL)
    for name in [n if n != "adl" else "adl_last" for n in attention_names()]:
        try:
            model = build_model("small", method=name, num_classes=3)
        except ModuleNotFoundError:  # baseline module not written yet
            continue
        with torch.no_grad():
            assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 3)
        assert len(model.attention_modules()) == 1
