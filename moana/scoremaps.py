"""Score-map files: wsolevaluation's heatmap contract (Choe et al., CVPR 2020,
clovaai/wsolevaluation ``evaluation.py``): one float ``.npy`` per image,
``<dir>/<image id with its extension replaced by .npy>``.

Kept apart from :mod:`moana.cam` (which needs torch) so that ``moana evaluate-scoremaps`` starts
without importing torch; :mod:`moana.cam` re-exports these functions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from moana.io import atomic_save_npy


def scoremap_path(directory: str | os.PathLike, image_id: str) -> Path:
    """``<dir>/<image id with its extension replaced by .npy>`` (wsolevaluation's contract)."""
    return Path(directory) / (os.path.splitext(image_id)[0] + ".npy")


def save_scoremap(directory: str | os.PathLike, image_id: str, scoremap: np.ndarray) -> Path:
    """Write one score map (float64) atomically; returns its path."""
    path = scoremap_path(directory, image_id)
    atomic_save_npy(path, np.asarray(scoremap, dtype=np.float64))
    return path


def save_scoremaps(
    directory: str | os.PathLike, image_ids: Iterable[str], maps: Iterable[np.ndarray]
) -> list[Path]:
    """Write score maps, one ``.npy`` per image id."""
    return [save_scoremap(directory, i, m) for i, m in zip(image_ids, maps, strict=True)]


def scoremap_file(directory: str | os.PathLike, image_id: str) -> Path:
    """The file :func:`load_scoremap` reads for ``image_id``: ``scoremap_path``, else
    ``<dir>/<image id>.npy`` (wsolevaluation's loader form); FileNotFoundError when neither
    exists."""
    path = scoremap_path(directory, image_id)
    if path.is_file():
        return path
    alternative = Path(directory) / (image_id + ".npy")
    if not alternative.is_file():
        raise FileNotFoundError(f"no score map for image {image_id!r}: expected {path}")
    return alternative


def read_scoremap(path: str | os.PathLike) -> np.ndarray:
    """Read one score-map file (a 2-D array; ValueError naming the file otherwise)."""
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ValueError(f"{path}: not a readable .npy score map ({err})") from err
    if array.ndim != 2:
        raise ValueError(f"{path}: a score map must be 2-D, got shape {array.shape}")
    return array


def load_scoremap(directory: str | os.PathLike, image_id: str) -> np.ndarray:
    """Read one score map. Also accepts ``<dir>/<image id>.npy`` (wsolevaluation's loader form)."""
    return read_scoremap(scoremap_file(directory, image_id))
