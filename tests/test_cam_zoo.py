"""Any model by name (moana.models.zoo) with the post-hoc CAM methods: VGG16 whose classifier is
three Linear layers, Inception-v3, ViTs through the token reshape; target-class checks and
Ablation-CAM on the kit's ResNet-50 ``layer4``. Random weights, small inputs."""

import numpy as np
import pytest
import torch

pytest.importorskip("timm")
pytest.importorskip("pytorch_grad_cam")

from moana.cam.sources import POSTHOC_METHODS, cam_source  # noqa: E402
from moana.experiments.cam_table import _cam_model, zoo_localizer  # noqa: E402
from moana.models import build_model  # noqa: E402
from moana.models.zoo import pooled_layer, vit_reshape, zoo_model  # noqa: E402

#: methods whose cost grows with the channel count (one forward per channel): slow on big nets
PER_CHANNEL = ("scorecam", "ablationcam")
GRADIENT_METHODS = sorted(set(POSTHOC_METHODS) - set(PER_CHANNEL))


def _run_all(zoo, size, methods, batch=1):
    torch.manual_seed(0)
    images = torch.rand(batch, 3, size, size)
    layer = zoo.target_layer or pooled_layer(zoo.model, zoo.pool, images)
    for method in methods:
        maps = cam_source(zoo.model, method, layer, zoo.reshape_transform)(images, [2] * batch)
        assert maps.shape == (batch, size, size), method
        assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1 + 1e-6, method
    return layer


@pytest.fixture(scope="module")
def vgg16():
    torch.manual_seed(0)
    return zoo_model("torchvision:vgg16", num_classes=3)


@pytest.fixture(scope="module")
def inception():
    torch.manual_seed(0)
    return zoo_model("torchvision:inception_v3", num_classes=3)


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return zoo_model("timm:vit_tiny_patch16_224", num_classes=3, img_size=64)


def test_vgg16_three_linear_classifier_runs_gradient_methods(vgg16):
    assert sum(isinstance(m, torch.nn.Linear) for m in vgg16.model.classifier) == 3
    assert _run_all(vgg16, 64, GRADIENT_METHODS) == "features"  # the last max-pool's output


def test_cam_on_vgg16_is_one_line_naming_the_posthoc_methods(vgg16):
    with pytest.raises(ValueError, match="CAM needs a classifier linear.*gradcam") as info:
        _cam_model(zoo_localizer(vgg16), torch.rand(1, 3, 64, 64))
    assert "\n" not in str(info.value)


def test_inception_v3_runs_gradient_methods(inception):
    assert _run_all(inception, 107, GRADIENT_METHODS) == "Mixed_7c"


def test_timm_vit_runs_every_method_on_its_token_grid(vit):
    assert vit.target_layer == "blocks.11.norm1" and vit.head is None
    _run_all(vit, 64, sorted(POSTHOC_METHODS))


def test_torchvision_vit_reshape_drops_the_class_token():
    torch.manual_seed(0)
    zoo = zoo_model("torchvision:vit_b_16", num_classes=3, image_size=32)
    assert zoo.target_layer == "encoder.layers.encoder_layer_11.ln_1"
    _run_all(zoo, 32, ["gradcam"])


def test_vit_reshape_keeps_token_order():
    tokens = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)  # cls + 2x2 patches
    grid = vit_reshape(1)(tokens)
    assert grid.shape == (2, 3, 2, 2)
    torch.testing.assert_close(grid[:, :, 0, 1], tokens[:, 2, :])
    with pytest.raises(ValueError, match="do not form a 3x3 grid"):
        vit_reshape(1, (3, 3))(tokens)


@pytest.mark.slow
@pytest.mark.parametrize("name,size", [("vgg16", 64), ("inception", 75)])
@pytest.mark.parametrize("method", PER_CHANNEL)
def test_per_channel_methods_on_big_networks(request, name, size, method):
    _run_all(request.getfixturevalue(name), size, [method])


def test_resnet_default_targets_and_cam_head():
    torch.manual_seed(0)
    for name in ("torchvision:resnet18", "timm:resnet18"):
        zoo = zoo_model(name, num_classes=3)
        assert zoo.head == "fc"
        assert pooled_layer(zoo.model, zoo.pool, torch.rand(1, 3, 32, 32)) == "layer4"
    lite = zoo_model("timm:tf_efficientnet_lite0", num_classes=3)
    assert pooled_layer(lite.model, lite.pool, torch.rand(1, 3, 32, 32)) == "bn2"


def test_kit_cam_through_a_named_model_equals_the_hooked_cam():
    from moana.cam.hooks import CAMExtractor
    from moana.experiments.cam_table import Localizer

    torch.manual_seed(0)
    zoo = zoo_model("torchvision:resnet18", num_classes=3)
    images = torch.rand(2, 3, 32, 32)
    net = _cam_model(zoo_localizer(zoo), images)
    expected = CAMExtractor(zoo.model, "layer4", "fc").cams(images, [0, 2])
    torch.testing.assert_close(net.cams(images, [0, 2]), expected)
    assert isinstance(zoo_localizer(zoo), Localizer)


def test_weights_are_local_files_loaded_strictly(tmp_path):
    torch.manual_seed(0)
    zoo = zoo_model("torchvision:resnet18", num_classes=3)
    path = tmp_path / "r18.pt"
    torch.save(zoo.model.state_dict(), path)
    again = zoo_model("torchvision:resnet18", num_classes=3, weights=path)
    torch.testing.assert_close(again.model.fc.weight, zoo.model.fc.weight)
    with pytest.raises(ValueError, match="r18.pt: shape mismatch"):
        zoo_model("torchvision:resnet18", num_classes=4, weights=path)
    torch.save({**zoo.model.state_dict(), "extra.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match=r"does not match .*unexpected keys \['extra.weight'\]"):
        zoo_model("torchvision:resnet18", num_classes=3, weights=path)
    for name in ("DEFAULT", "IMAGENET1K_V1", "pretrained"):
        with pytest.raises(ValueError, match="cannot be downloaded here"):
            zoo_model("torchvision:resnet18", weights=name)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        zoo_model("torchvision:resnet18", weights=tmp_path / "missing.pt")


def test_unknown_names_and_layers_are_one_line():
    with pytest.raises(ValueError, match="unknown torchvision model 'nope'"):
        zoo_model("torchvision:nope")
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        zoo_model("resnet")
    with pytest.raises(ValueError, match="--target-layer 'layer9'"):
        zoo_model("torchvision:resnet18", target_layer="layer9")


@pytest.mark.parametrize("targets,match", [([0, 3], "target class 3 is out of range"),
                                           ([0, -1], r"must be >= 0, got \[-1\]")])
def test_target_class_range_is_checked(targets, match):
    torch.manual_seed(0)
    net = build_model("small", method="cam", num_classes=3).eval()
    with pytest.raises(ValueError, match=match):
        cam_source(net, "gradcam", "layer4")(torch.rand(2, 3, 32, 32), targets)


def test_ablation_cam_on_resnet_layer4():
    """The kit's ResNet indexed its stages as Sequentials; Ablation-CAM swaps an AblationLayer
    in for ``layer4``, which is now called whole (TypeError before)."""
    torch.manual_seed(0)
    net = build_model("resnet18", method="cam", num_classes=3).eval()
    images = torch.rand(1, 3, 32, 32)
    before = net(images)
    maps = cam_source(net, "ablationcam", "layer4")(images, [1])
    assert maps.shape == (1, 32, 32) and np.isfinite(maps).all()
    assert isinstance(net.layer4, torch.nn.Sequential)  # put back
    torch.testing.assert_close(net(images), before)


@pytest.mark.parametrize("arch,method,layer", [("small", "cam", "layer4"),
                                               ("small", "moana", "attention"),
                                               ("resnet18", "cam", "layer4"),
                                               ("vgg16", "cam", "relu6"),
                                               ("inception_v3", "cam", "head")])
def test_kit_networks_default_to_the_classifiers_input(arch, method, layer):
    from moana.experiments.cam_table import kit_localizer

    torch.manual_seed(0)
    net = build_model(arch, method=method, num_classes=3)
    loc = kit_localizer("kit", net)
    images = torch.rand(1, 3, 32, 32)
    assert loc.layer(images) == layer
    maps = cam_source(net, "gradcam", layer)(images, [1])
    assert maps.shape == (1, 32, 32) and np.isfinite(maps).all()
