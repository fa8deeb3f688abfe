"""Small helpers shared by the WSSS steps: atomic writes, device choice, list resolution."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from moana.io import atomic_save_npy, atomic_write_bytes, write_json


def save_npy_dict(path: Path, data: dict[str, Any]) -> None:
    """``np.save`` a dict (IRN's per-image CAM format) atomically."""
    atomic_save_npy(path, data, allow_pickle=True)


def load_npy_dict(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (run the step that writes it first)")
    try:
        return np.load(path, allow_pickle=True).item()
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path} is not a saved dict: {err}") from err


def save_png(path: Path, label: np.ndarray, palette: list[int] | None = None) -> None:
    """A uint8 label map as a (palette) PNG, atomically."""
    image = Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8))  # mode "L"
    if palette is not None:
        image.putpalette(palette)  # L -> P keeping the indices
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def load_png(path: Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (run the step that writes it first)")
    with Image.open(path) as image:
        return np.array(image, dtype=np.uint8)


def save_json(path: Path, data: Any) -> None:
    """Strict JSON through the package's one writer (NaN/inf -> null), keys sorted."""
    write_json(path, data, sort_keys=True)


def torch_save(path: Path, obj: Any) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def pil_rescale(array: np.ndarray, scale: float, order: int) -> np.ndarray:
    """IRN's ``imutils.pil_rescale``: resize to ``(round(h*scale), round(w*scale))`` (numpy
    rounding, half to even) with PIL bicubic (``order=3``, low-pass filters when shrinking) or
    nearest (``order=0``); returned unchanged when the size does not change. A side that would
    round to 0 pixels keeps 1 (IRN's PIL call raises there: a 1-pixel image at scale 0.5)."""
    if not scale > 0:
        raise ValueError(f"rescale factor must be positive, got {scale}")
    height, width = array.shape[:2]
    size = (max(1, int(np.round(height * scale))), max(1, int(np.round(width * scale))))
    if size == (height, width):
        return array
    resample = {3: Image.BICUBIC, 0: Image.NEAREST}[order]
    return np.asarray(Image.fromarray(array).resize((size[1], size[0]), resample))


def random_crop_box(size: tuple[int, int], crop: int, rng) -> tuple[int, ...]:
    """IRN's ``get_random_crop_box``: (dst_top, dst_bottom, dst_left, dst_right, src_top,
    src_bottom, src_left, src_right) of a ``crop`` x ``crop`` container; a short side is placed
    at a random offset in the container. ``rng`` is a ``random.Random``."""
    height, width = size
    ch, cw = min(crop, height), min(crop, width)
    if width > crop:
        dst_left, src_left = 0, rng.randrange(width - crop + 1)
    else:
        dst_left, src_left = rng.randrange(crop - width + 1), 0
    if height > crop:
        dst_top, src_top = 0, rng.randrange(height - crop + 1)
    else:
        dst_top, src_top = rng.randrange(crop - height + 1), 0
    return (dst_top, dst_top + ch, dst_left, dst_left + cw,
            src_top, src_top + ch, src_left, src_left + cw)


def load_image_rgb(path: Path) -> np.ndarray:
    """An image as an (H, W, 3) uint8 RGB array, through the package's one image loader
    (:func:`moana.data.wsol.load_image`: FileNotFoundError / ValueError naming the file)."""
    from moana.data.wsol import load_image

    return np.asarray(load_image(Path(path)), dtype=np.uint8).copy()


def voc_image_path(root: Path, image_id: str) -> Path:
    """``<root>/JPEGImages/<id>.jpg``, or ``.png`` (synthetic data): moana.data.voc.image_path."""
    from moana.data.voc import image_path

    return image_path(Path(root), image_id)
