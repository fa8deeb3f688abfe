"""Pretrained backbone loading: local torch hub cache only, local files, clear errors."""

from __future__ import annotations

import pytest
import torch
import torchvision

from moana.models import build_model


@pytest.fixture()
def empty_hub(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def test_torchvision_name_not_cached_raises(empty_hub) -> None:
    with pytest.raises(RuntimeError, match=r"cannot be downloaded here.*pretrained='/path/to/"):
        build_model("resnet18", method="cam", num_classes=3, pretrained="IMAGENET1K_V1")


def test_unknown_weights_name_and_small_arch(empty_hub) -> None:
    with pytest.raises(ValueError, match="unknown ResNet18_Weights name"):
        build_model("resnet18", num_classes=3, pretrained="IMAGENET_XYZ")
    with pytest.raises(ValueError, match="no torchvision weights exist for arch 'small'"):
        build_model("small", num_classes=3, pretrained="IMAGENET1K_V1")


def test_torchvision_name_from_local_cache(empty_hub) -> None:
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None)
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    target = empty_hub / "checkpoints" / url.rsplit("/", 1)[-1]
    target.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), target)
    model = build_model("resnet18", method="moana", num_classes=3, pretrained="IMAGENET1K_V1")
    torch.testing.assert_close(model.conv1.weight, reference.conv1.weight)
    torch.testing.assert_close(model.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)


def test_local_file_and_errors(tmp_path) -> None:
    torch.manual_seed(2)
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save({"module." + k: v for k, v in reference.state_dict().items()}, path)
    model = build_model("resnet18", method="cam", num_classes=3, pretrained=str(path))
    torch.testing.assert_close(model.layer3[0].conv2.weight, reference.layer3[0].conv2.weight)

    state = reference.state_dict()
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    bad_shape = tmp_path / "bad_shape.pth"
    torch.save(state, bad_shape)
    with pytest.raises(ValueError, match=r"shape mismatch loading .*bad_shape.pth.*layer1.0.conv1.weight"):
        build_model("resnet18", num_classes=3, pretrained=str(bad_shape))

    state = reference.state_dict()
    del state["layer2.1.bn1.weight"]
    missing = tmp_path / "missing.pth"
    torch.save(state, missing)
    with pytest.raises(ValueError, match=r"missing.pth does not match the resnet18 backbone.*layer2.1.bn1.weight"):
        build_model("resnet18", num_classes=3, pretrained=str(missing))

    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_model("resnet18", num_classes=3, pretrained=str(tmp_path / "nope.pth"))
