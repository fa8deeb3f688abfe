"""Small helpers shared by the WSSS steps: atomic writes, device choice, list resolution."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from moana.io import atomic_save_npy, atomic_write_bytes


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
    atomic_write_bytes(path, json.dumps(data, indent=2, sort_keys=True, default=_jsonable).encode())


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (Path, tuple)):
        return str(value) if isinstance(value, Path) else list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def torch_save(path: Path, obj: Any) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def poly_lambda(max_step: int, power: float = 0.9):
    """IRN's poly schedule: lr * (1 - step / max_step) ** power."""
    max_step = max(1, max_step)
    return lambda step: (1 - min(step, max_step - 1) / max_step) ** power


def load_image_rgb(path: Path) -> np.ndarray:
    """An image as an HxWx3 uint8 RGB array (clear error when missing or corrupt)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} is missing")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, SyntaxError) as err:
        raise ValueError(f"image {path} is corrupt or not an image: {err}") from err


def voc_image_path(root: Path, image_id: str) -> Path:
    """``<root>/JPEGImages/<id>.jpg``, or ``.png`` (synthetic data): moana.data.voc.image_path."""
    from moana.data.voc import image_path

    return image_path(Path(root), image_id)
