"""Official MoANA checkpoints (DataParallel 'module.' keys) load strictly and reproduce logits."""

from __future__ import annotations

import pytest
import torch
import torchvision

from moana.models import build_model, load_official_checkpoint


def _official_keys() -> set[str]:
    """Keys as the official code writes them: torchvision ResNet-50 without fc, the module
    appended to layer4 (index 3) and a 1x1 conv classifier."""
    keys = {k for k in torchvision.models.resnet50(weights=None).state_dict() if not k.startswith("fc.")}
    keys |= {f"layer4.3.{c}.weight" for c in ("conv_c", "conv_h", "conv_w")}
    for bn in ("bn1", "bn2", "bn3"):
        keys |= {f"layer4.3.{bn}.{s}" for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    return keys | {"classifier.0.weight", "classifier.0.bias"}


def _official_state(num_classes: int = 7, seed: int = 0) -> tuple[dict, torch.nn.Module]:
    torch.manual_seed(seed)
    source = build_model("resnet50", method="moana", num_classes=num_classes)
    with torch.no_grad():  # non-trivial running statistics
        for name, buf in source.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
    state = {"module." + k: v.clone() for k, v in source.state_dict().items()}
    return state, source.eval()


def test_official_keys_are_ours() -> None:
    model = build_model("resnet50", method="moana", num_classes=7)
    assert set(model.state_dict()) == _official_keys()


def test_load_from_file_gives_same_logits(tmp_path) -> None:
    state, source = _official_state()
    path = tmp_path / "moana_resnet50_official.pth.tar"
    torch.save({"state_dict": state, "epoch": 3}, path)
    model = load_official_checkpoint(path).eval()
    assert model.num_classes == 7 and model.attention_modules()[0].axis_conv == "full"
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x))
    # into an existing model, from a mapping
    other = build_model("resnet50", method="moana", num_classes=7)
    load_official_checkpoint(state, other, num_classes=7).eval()
    with torch.no_grad():
        torch.testing.assert_close(other(x), source(x))


def test_wrong_checkpoints_raise() -> None:
    vanilla = {"module." + k: v for k, v in torchvision.models.resnet50(weights=None).state_dict().items()}
    with pytest.raises(ValueError, match="not an official ResNet-50 MoANA checkpoint.*layer4.3.conv_c.weight"):
        load_official_checkpoint(vanilla)
    state, _ = _official_state(num_classes=5)
    with pytest.raises(ValueError, match="5 classes, but num_classes=6"):
        load_official_checkpoint(state, num_classes=6)
    state["module.extra.weight"] = torch.zeros(1)
    del state["module.layer3.0.bn1.weight"]
    with pytest.raises(ValueError, match=r"missing keys \['layer3.0.bn1.weight'\].*unexpected keys \['extra.weight'\]"):
        load_official_checkpoint(state)


def test_old_argument_order_is_a_clear_error(tmp_path) -> None:
    state, _ = _official_state()
    model = build_model("resnet50", method="moana", num_classes=7)
    with pytest.raises(TypeError, match=r"takes the path first.*ResNetCAM"):
        load_official_checkpoint(model, state)
    with pytest.raises(TypeError, match=r"takes the path first.*NoneType"):
        load_official_checkpoint(None, tmp_path / "moana.pth")
