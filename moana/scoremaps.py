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


#: written by ``moana evaluate --save-cams`` beside the maps: how they were made and scored
PROTOCOL_FILE = "protocol.json"
#: wsolevaluation's CAM threshold step (``--cam_curve_interval``), the kit's default everywhere
DEFAULT_STEP = 0.001


def protocol(step: float, normalization: str, multi_contour: bool | None) -> dict[str, object]:
    """What decides a localization number beyond the maps: the CAM threshold step, the CAM
    normalization and the box contour mode (``all_contours`` = MaxBoxAccV2's multi-contour
    rule, ``largest_contour`` = MaxBoxAcc's, ``both``: each metric with its own)."""
    contour = "both" if multi_contour is None else (
        "all_contours" if multi_contour else "largest_contour")
    return {"cam_step": float(step), "cam_normalization": normalization, "contour_mode": contour}


def write_protocol(directory: str | os.PathLike, record: dict[str, object]) -> Path:
    """``<dir>/protocol.json`` (atomically): the :func:`protocol` the maps were scored with."""
    import json

    from moana.io import atomic_write_text

    path = Path(directory) / PROTOCOL_FILE
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def read_protocol(directory: str | os.PathLike) -> dict[str, object] | None:
    """The recorded :func:`protocol` of a score-map folder, or None when there is none.
    Raises ValueError naming the file when it is not a JSON object."""
    import json

    path = Path(directory) / PROTOCOL_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data
