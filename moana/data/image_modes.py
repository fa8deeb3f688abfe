"""Every PIL image mode to 8-bit RGB, or a refusal naming the mode.

``Image.convert("RGB")`` (what wsolevaluation's and IRN's loaders call) is right for the 8-bit
modes, but clamps 16-bit grayscale (``I;16*``) to 255 instead of scaling it, so such a PNG loads
almost white. Here 8-bit modes go through ``convert`` unchanged (the same pixels as the
references); 16-bit grayscale is scaled by 255/65535 and rounded; a float image (``F``) in
[0, 1] is scaled by 255; modes with transparency drop it (the colour under the alpha is kept,
as ``convert`` does); 32-bit integer images and float images outside [0, 1] are refused, since
their range is not known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["to_rgb8"]

#: modes ``convert("RGB")`` maps correctly (8 bits per channel, palette, bilevel, CMYK, ...)
EIGHT_BIT = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr",
             "LAB", "HSV")


def _gray_to_rgb(values: np.ndarray) -> Image.Image:
    """(H, W) values already in [0, 255] -> RGB."""
    gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(gray[..., None], 3, axis=2), "RGB")


def to_rgb8(image: Image.Image, path: Path | str = "image") -> Image.Image:
    """``image`` as an 8-bit RGB image; ValueError naming ``path`` and the mode if it cannot be."""
    mode = image.mode
    if mode == "P" and "transparency" in image.info:
        return image.convert("RGBA").convert("RGB")
    if mode in EIGHT_BIT:
        return image.convert("RGB")
    if mode.startswith("I;16"):
        return _gray_to_rgb(np.asarray(image, dtype=np.float64) * (255.0 / 65535.0))
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1:
            return _gray_to_rgb(values * 255.0)
        raise ValueError(f"image {path} is a float image (mode F) with values outside [0, 1]; "
                         f"save it as 8-bit or 16-bit")
    raise ValueError(f"image {path} has PIL mode {mode!r}, which has no known 8-bit range; "
                     f"save it as 8-bit or 16-bit RGB or grayscale")
