"""load_wsolevaluation_checkpoint: state_dicts with wsolevaluation's keys and shapes (from a direct
re-statement of its networks, tests/wsolevaluation_restated.py) load into our models, which then
give wsolevaluation's logits and CAMs (up to a positive scale and shift; ACoL's exactly)."""

from __future__ import annotations

import pytest
import torch

from moana.models import load_wsolevaluation_checkpoint
from wsolevaluation_restated import randomize, wsol_model

K = 3
SIZES = {"vgg16": 32, "resnet50": 32, "inception_v3": 64}
LARGE = {"vgg16": False, "resnet50": True, "inception_v3": True}
METHODS = ("cam", "has", "cutmix", "acol", "spg", "adl")
PAIRS = [
    pytest.param(arch, method, marks=[] if (arch, method) == ("vgg16", "cam") else [pytest.mark.slow])
    for arch in SIZES for method in METHODS
]


def _layout(method: str) -> str:
    return "cam" if method in ("has", "cutmix") else method


def _save(tmp_path, arch, state, prefix="module."):
    path = tmp_path / "last_checkpoint.pth.tar"
    torch.save({"architecture": arch, "epoch": 3, "state_dict": {prefix + k: v for k, v in state.items()},
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "nesterov": True, "params": [0]}]}}, path)
    return path


def _minmax(cams: torch.Tensor) -> torch.Tensor:
    flat = cams.flatten(1)
    lo, hi = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    return ((flat - lo) / (hi - lo)).view_as(cams)


@pytest.mark.parametrize(("arch", "method"), PAIRS)
def test_wsolevaluation_checkpoint_gives_its_logits_and_cams(tmp_path, arch, method) -> None:
    torch.manual_seed(0)
    ref = wsol_model(arch, _layout(method), K, LARGE[arch]).eval()
    state = randomize(ref)
    path = _save(tmp_path, arch, state)
    model = load_wsolevaluation_checkpoint(path, arch=arch, method=method, large_feature_map=LARGE[arch])
    assert not model.training and model.method == method and model.num_classes == K
    x = torch.randn(2, 3, SIZES[arch], SIZES[arch])
    labels = torch.tensor([1, 2])
    with torch.no_grad():
        want_logits = ref(x)
        want_cams = ref(x, labels, return_cam=True)
        logits = model(x)
        cams = model.cams(x, labels)
    torch.testing.assert_close(logits, want_logits, rtol=1e-4, atol=1e-4)
    assert cams.shape == want_cams.shape
    if method == "acol":
        torch.testing.assert_close(cams, want_cams, rtol=1e-4, atol=1e-4)
    else:  # same map up to a positive scale and a shift
        torch.testing.assert_close(_minmax(cams), _minmax(want_cams), rtol=1e-3, atol=1e-3)


def test_vgg_large_feature_map_is_read_from_the_keys(tmp_path) -> None:
    ref = wsol_model("vgg16", "cam", K, True)
    path = _save(tmp_path, "vgg16", ref.state_dict(), prefix="")
    assert load_wsolevaluation_checkpoint(path, arch="vgg16", method="cam").large_feature_map is True
    with pytest.raises(ValueError, match="large_feature_map=True"):
        load_wsolevaluation_checkpoint(path, arch="vgg16", method="cam", large_feature_map=False)


def test_bad_checkpoints_name_the_file(tmp_path) -> None:
    state = wsol_model("vgg16", "acol", K, False).state_dict()
    path = _save(tmp_path, "vgg16", state)
    with pytest.raises(ValueError, match=r"last_checkpoint.pth.tar.*num_classes=5"):
        load_wsolevaluation_checkpoint(path, arch="vgg16", method="acol", num_classes=5)
    with pytest.raises(ValueError, match=r"last_checkpoint.pth.tar.*'vgg16' checkpoint, not 'resnet50'"):
        load_wsolevaluation_checkpoint(path, arch="resnet50", method="acol")
    with pytest.raises(ValueError, match=r"last_checkpoint.pth.tar: no 'fc.weight'"):
        load_wsolevaluation_checkpoint(path, arch="vgg16", method="cam")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_wsolevaluation_checkpoint(tmp_path / "nope.pth", arch="vgg16", method="cam")
    with pytest.raises(ValueError, match="no 'small' backbone"):
        load_wsolevaluation_checkpoint(path, arch="small", method="cam")


@pytest.mark.slow
def test_missing_unexpected_and_misshaped_keys_name_the_file(tmp_path) -> None:
    state = wsol_model("vgg16", "acol", K, False).state_dict()
    broken = dict(state)
    broken.pop("classifier_B.2.bias")
    broken["classifier_B.9.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"last_checkpoint.pth.tar does not match.*classifier_B.2.bias.*"
                                         r"classifier_B.9.weight"):
        load_wsolevaluation_checkpoint(_save(tmp_path, "vgg16", broken), arch="vgg16", method="acol")
    shaped = dict(state)
    shaped["classifier_B.0.bias"] = torch.zeros(7)
    with pytest.raises(ValueError, match=r"last_checkpoint.pth.tar: shape mismatch.*classifier_B.0.bias"):
        load_wsolevaluation_checkpoint(_save(tmp_path, "vgg16", shaped), arch="vgg16", method="acol")
