"""Tests of moana.nn.MoANA against a hand computation (numpy loops) and its options."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from moana.nn.moana import MoANA

B, C, H, W, K = 2, 3, 4, 5, 3


def _randomize(module: MoANA, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        for name, buf in module.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape, generator=g))
            elif name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)


def _conv1d(signal: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Zero-padded cross-correlation; signal (Cin, L), weight (Cout, Cin, k) -> (Cout, L)."""
    cout, cin, k = weight.shape
    pad = (k - 1) // 2
    length = signal.shape[1]
    out = np.zeros((cout, length))
    for o in range(cout):
        for pos in range(length):
            for i in range(cin):
                for t in range(k):
                    src = pos + t - pad
                    if 0 <= src < length:
                        out[o, pos] += weight[o, i, t] * signal[i, src]
    return out


def _bn(values: np.ndarray, bn: torch.nn.BatchNorm2d, channel: int) -> np.ndarray:
    mean = bn.running_mean[channel].item()
    var = bn.running_var[channel].item()
    return (values - mean) / math.sqrt(var + bn.eps) * bn.weight[channel].item() + bn.bias[channel].item()


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def _expected_map(module: MoANA, x: np.ndarray) -> np.ndarray:
    """Attention map M computed with explicit loops (eval-mode BatchNorm)."""
    attmap = np.zeros_like(x)
    for b in range(x.shape[0]):
        if "c" in module.axes:
            pooled = np.array([[x[b, c].mean() for c in range(C)]])  # (1, C): one signal of length C
            conv = _conv1d(pooled, module.conv_c.weight.detach().numpy())[0]
            for c in range(C):
                attmap[b, c] += _sigmoid(_bn(conv[c], module.bn1, c))
        if "h" in module.axes:
            pooled = np.array([[x[b, c, h].mean() for h in range(H)] for c in range(C)])
            weight = module.conv_h.weight.detach().numpy()
            if module.axis_conv == "depthwise":
                weight = np.stack([np.diag(weight[:, 0, t]) for t in range(K)], axis=-1)
            conv = _conv1d(pooled, weight)
            for c in range(C):
                for h in range(H):
                    attmap[b, c, h, :] += _sigmoid(_bn(conv[c, h], module.bn2, c))
        if "w" in module.axes:
            pooled = np.array([[x[b, c, :, w].mean() for w in range(W)] for c in range(C)])
            conv = _conv1d(pooled, module.conv_w.weight.detach().numpy())
            for c in range(C):
                for w in range(W):
                    attmap[b, c, :, w] += _sigmoid(_bn(conv[c, w], module.bn3, c))
    return attmap


@pytest.mark.parametrize(
    "calibration,a,b", [("wsol", 1.0, 1.0), ("wsss", 0.35, 0.65), ((0.0, 1.0), 0.0, 1.0), ((0.5, 2), 0.5, 2.0)]
)
def test_matches_hand_computation(calibration, a: float, b: float) -> None:
    torch.manual_seed(0)
    module = MoANA(C, kernel_size=K, calibration=calibration).double().eval()
    _randomize(module)
    x = torch.randn(B, C, H, W, dtype=torch.float64)
    expected_map = _expected_map(module, x.numpy())
    expected = x.numpy() * (a + b * expected_map)
    module.record_attention = True
    out = module(x).detach()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(module.last_attention["map"].numpy(), expected_map, rtol=1e-10)
    assert ((expected_map >= 0) & (expected_map <= 3)).all()


@pytest.mark.parametrize("axes", ["".join(s) for n in (1, 2, 3) for s in itertools.combinations("chw", n)])
def test_axis_subsets(axes: str) -> None:
    module = MoANA(C, axes=axes).double()
    _randomize(module, seed=1)
    names = {n.split(".")[0] for n, _ in module.named_parameters()}
    expected_names = {p for axis in axes for p in {"c": ("conv_c", "bn1"), "h": ("conv_h", "bn2"), "w": ("conv_w", "bn3")}[axis]}
    assert names == expected_names
    x = torch.randn(B, C, H, W, dtype=torch.float64)
    module.record_attention = True
    module.train()
    module(x)
    rec = module.last_attention
    assert set(rec) == set(axes) | {"map"}
    assert rec["map"].shape == (B, C, H, W)
    assert rec["map"].min() >= 0 and rec["map"].max() <= len(axes)
    module.eval()
    out = module(x).detach()
    np.testing.assert_allclose(out.numpy(), x.numpy() * (1 + _expected_map(module, x.numpy())), rtol=1e-10)


def test_attention_shapes_and_no_record_by_default() -> None:
    module = MoANA(8)
    x = torch.randn(2, 8, 6, 7)
    module(x)
    assert module.last_attention is None
    module.record_attention = True
    module(x)
    rec = module.last_attention
    assert rec["c"].shape == (2, 8, 1, 1) and rec["h"].shape == (2, 8, 6, 1)
    assert rec["w"].shape == (2, 8, 1, 7) and rec["map"].shape == (2, 8, 6, 7)
    assert not any(v.requires_grad for v in rec.values())
    assert float(rec["map"].min()) >= 0.0 and float(rec["map"].max()) <= 3.0


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    module = MoANA(6).train()
    x = torch.randn(3, 6, 5, 4, requires_grad=True)
    (module(x) ** 2).sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad is not None


def test_depthwise_equals_block_diagonal_full() -> None:
    torch.manual_seed(0)
    dw = MoANA(5, axis_conv="depthwise")
    full = MoANA(5, axis_conv="full")
    _randomize(dw, seed=3)
    state = dw.state_dict()
    for name in ("conv_h.weight", "conv_w.weight"):
        weight = state[name]  # (C, 1, k)
        block = torch.zeros(5, 5, weight.shape[-1])
        for i in range(5):
            block[i, i] = weight[i, 0]
        state[name] = block
    full.load_state_dict(state)
    x = torch.randn(2, 5, 6, 7)
    for mode in (True, False):
        dw.train(mode)
        full.train(mode)
        torch.testing.assert_close(dw(x), full(x))
    n_dw = sum(p.numel() for p in dw.parameters())
    n_full = sum(p.numel() for p in full.parameters())
    assert n_full - n_dw == 2 * (5 * 5 * 3 - 5 * 3)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"axes": "chx"}, "unknown axes"),
        ({"axes": ""}, "non-empty"),
        ({"axes": "cc"}, "repeats"),
        ({"calibration": "foo"}, "unknown calibration"),
        ({"calibration": (1, 2, 3)}, "pair"),
        ({"calibration": (1, float("nan"))}, "finite"),
        ({"kernel_size": 4}, "odd"),
        ({"axis_conv": "grouped"}, "axis_conv"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MoANA(4, **kwargs)


def test_bad_channels() -> None:
    with pytest.raises(ValueError, match="positive int"):
        MoANA(0)
    module = MoANA(4)
    with pytest.raises(ValueError, match="built for 4 channels but the input has 3"):
        module(torch.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        module(torch.randn(2, 4, 5))


def test_official_parameter_names_and_factory() -> None:
    from moana.nn import create_attention

    module = create_attention("moana", 16, calibration="wsss")
    assert isinstance(module, MoANA) and module.calibration == (0.35, 0.65)
    assert set(module.state_dict()) >= {
        "conv_c.weight", "conv_h.weight", "conv_w.weight",
        "bn1.running_mean", "bn2.weight", "bn3.bias",
    }
    assert module.conv_c.weight.shape == (1, 1, 3) and module.conv_h.weight.shape == (16, 16, 3)
