"""Baseline attention modules (SE, CBAM, ECA, coordinate attention, ADL) created by the factory."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from moana.nn import attention_names, create_attention
from moana.nn.adl import ADL
from moana.nn.cbam import CBAM
from moana.nn.coord_attn import CoordAttention
from moana.nn.eca import ECA, eca_kernel_size
from moana.nn.se import SqueezeExcitation

BASELINES = {
    "se": SqueezeExcitation,
    "cbam": CBAM,
    "eca": ECA,
    "coord_attn": CoordAttention,
    "adl": ADL,
}


def test_factory_knows_every_baseline() -> None:
    assert set(BASELINES) <= set(attention_names())


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_shape_and_gradient(name: str) -> None:
    torch.manual_seed(0)
    module = create_attention(name, 32)
    assert isinstance(module, BASELINES[name])
    module.train()
    x = torch.randn(2, 32, 5, 7, requires_grad=True)
    y = module(x)
    assert y.shape == x.shape
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for pname, p in module.named_parameters():
        assert p.grad is not None, f"{name}.{pname} got no gradient"
    module.eval()
    with torch.no_grad():
        assert module(x).shape == x.shape


@pytest.mark.parametrize("name", ["se", "cbam", "eca", "coord_attn"])
def test_gates_only_scale_down(name: str) -> None:
    """Sigmoid gates lie in (0, 1), so |output| <= |input| elementwise."""
    module = create_attention(name, 16).eval()
    x = torch.randn(1, 16, 4, 4)
    with torch.no_grad():
        y = module(x)
    assert (y.abs() <= x.abs() + 1e-6).all()


def test_eca_kernel_size_follows_eca_net() -> None:
    assert eca_kernel_size(64) == 3
    assert eca_kernel_size(512) == 5
    assert eca_kernel_size(2048) == 7
    assert ECA(2048).conv.kernel_size == (7,)
    with pytest.raises(ValueError, match="odd"):
        ECA(64, kernel_size=4)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="odd"):
        CBAM(16, spatial_kernel_size=4)
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcitation(16, reduction=0)
    with pytest.raises(ValueError, match="drop_rate"):
        ADL(16, drop_rate=1.5)
    with pytest.raises(ValueError, match="drop_threshold"):
        ADL(16, drop_threshold=-0.1)


def test_adl_follows_wsolevaluation() -> None:
    x = torch.rand(2, 8, 6, 6)
    x[:, :, 2, 3] += 5.0  # a clear peak per image
    adl = ADL(8)
    assert (adl.drop_rate, adl.drop_threshold) == (0.75, 0.8)
    assert list(adl.parameters()) == []
    adl.eval()
    assert torch.equal(adl(x), x)  # identity at evaluation
    adl.train()
    attention = x.mean(dim=1, keepdim=True)
    dropped = ADL(8, drop_rate=1.0).train()(x)  # always the drop mask
    assert torch.all(dropped[:, :, 2, 3] == 0)  # the peak is hidden
    assert torch.equal(dropped, x * (attention < 0.8 * attention.amax(dim=(2, 3), keepdim=True)))
    importance = ADL(8, drop_rate=0.0).train()(x)  # always the importance map
    assert torch.allclose(importance, x * torch.sigmoid(attention))


def test_adl_drop_frequency_matches_rate() -> None:
    torch.manual_seed(0)
    adl = ADL(4, drop_rate=0.75).train()
    x = torch.rand(1, 4, 3, 3)
    x[:, :, 1, 1] += 5.0
    drops = sum(bool(adl(x)[0, 0, 1, 1] == 0) for _ in range(400))
    assert 0.65 < drops / 400 < 0.85


@pytest.mark.parametrize("stem", ["se", "cbam", "eca", "coord_attn", "adl"])
def test_modules_import_only_torch(stem: str) -> None:
    path = Path(__file__).resolve().parents[1] / "moana" / "nn" / f"{stem}.py"
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots <= {"torch", "math", "__future__"}, roots
