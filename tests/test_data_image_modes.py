"""Every PIL mode loads as correct 8-bit RGB through the kit's one image loader, or is refused
by name (16-bit grayscale used to load almost white: ``convert("RGB")`` clamps it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from moana.data.wsol import load_image

GRAY16 = np.array([[0, 257, 32896], [65535, 1000, 50000]], dtype=np.uint16)


def _load(tmp_path: Path, image: Image.Image, name: str) -> np.ndarray:
    path = tmp_path / name
    image.save(path)
    return np.asarray(load_image(path))


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_16_bit_grayscale_is_scaled_not_clamped(tmp_path: Path, mode: str) -> None:
    order = "<u2" if mode == "I;16" else ">u2"
    image = Image.frombytes(mode, GRAY16.shape[::-1], GRAY16.astype(order).tobytes())
    out = _load(tmp_path, image, "g16.png" if mode == "I;16" else "g16.tif")
    expected = np.rint(GRAY16 / 65535 * 255).astype(np.uint8)
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], expected)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_eight_bit_modes_equal_pil_convert(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), "RGB")
    for mode, suffix in [("1", "png"), ("L", "png"), ("LA", "png"), ("P", "png"),
                         ("RGBA", "png"), ("CMYK", "jpg"), ("RGB", "png")]:
        image = rgb.convert(mode)
        path = tmp_path / f"m_{mode}.{suffix}"
        image.save(path)
        with Image.open(path) as reread:
            expected = np.asarray(reread.convert("RGB"))
        np.testing.assert_array_equal(np.asarray(load_image(path)), expected, err_msg=mode)


def test_palette_with_transparency_keeps_the_palette_colours(tmp_path: Path) -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    image.putpixel((1, 0), 1)
    image.info["transparency"] = 0
    out = _load(tmp_path, image, "pt.png")
    np.testing.assert_array_equal(out[0], [[10, 20, 30], [200, 100, 50]])


def test_float_image_in_unit_range_and_refusals(tmp_path: Path) -> None:
    values = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    out = _load(tmp_path, Image.fromarray(values, "F"), "f.tif")
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255])
    with pytest.raises(ValueError, match=r"f2\.tif is a float image \(mode F\)"):
        _load(tmp_path, Image.fromarray(values * 4, "F"), "f2.tif")
    with pytest.raises(ValueError, match=r"i32\.tif has PIL mode 'I'"):
        _load(tmp_path, Image.fromarray(np.array([[1, 70000]], dtype=np.int32), "I"), "i32.tif")
