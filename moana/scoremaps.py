"""Score-map files: wsolevaluation's heatmap contract (Choe et al., CVPR 2020,
clovaai/wsolevaluation ``evaluation.py``): one float ``.npy`` per image,
``<dir>/<image id with its extension replaced by .npy>``. Reading also accepts an 8-bit or
16-bit grayscale ``.png`` in its place (maps saved by other code bases as images).

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


#: score-map file forms :func:`scoremap_file` looks for, in this order
SCOREMAP_SUFFIXES = (".npy", ".png")


def scoremap_file(directory: str | os.PathLike, image_id: str) -> Path:
    """The file :func:`load_scoremap` reads for ``image_id``: ``<dir>/<image id with its
    extension replaced by .npy>`` (``scoremap_path``) or ``<dir>/<image id>.npy``
    (wsolevaluation's loader form), or the same two names ending in ``.png`` (a grayscale PNG
    map). FileNotFoundError when none exists; ValueError naming both files when a ``.npy`` and a
    ``.png`` map exist for one image id (which one to score would be a guess)."""
    directory = Path(directory)
    stem = os.path.splitext(image_id)[0]
    found: dict[str, Path] = {}
    for suffix in SCOREMAP_SUFFIXES:
        for name in dict.fromkeys((stem + suffix, image_id + suffix)):
            if suffix not in found and (directory / name).is_file():
                found[suffix] = directory / name
    if len(found) > 1:
        raise ValueError(f"two score maps for image {image_id!r}: {found['.npy']} and "
                         f"{found['.png']}; keep one of them")
    if not found:
        raise FileNotFoundError(f"no score map for image {image_id!r}: expected "
                                f"{scoremap_path(directory, image_id)} (or {stem}.png)")
    return next(iter(found.values()))


def read_scoremap(path: str | os.PathLike) -> np.ndarray:
    """Read one score-map file (a 2-D array; ValueError naming the file otherwise).

    A ``.png`` map must be single-channel grayscale, 8-bit (divided by 255) or 16-bit (divided
    by 65535), so it arrives as float64 in [0, 1]; any other file is read as a ``.npy`` array."""
    if Path(path).suffix.lower() == ".png":
        return _read_png_scoremap(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:  # EOFError: an empty or truncated file
        raise ValueError(f"{path}: not a readable .npy score map ({err or 'empty file'})") from err
    if array.ndim != 2:
        raise ValueError(f"{path}: a score map must be 2-D, got shape {array.shape}")
    return array


def _read_png_scoremap(path: str | os.PathLike) -> np.ndarray:
    """A grayscale PNG score map scaled to [0, 1] by its bit depth's maximum (255 or 65535)."""
    import cv2  # here: the .npy path of ``moana evaluate-scoremaps`` need not load OpenCV

    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ValueError(f"{path}: not a readable PNG score map")
    if array.ndim != 2:
        raise ValueError(f"{path}: a PNG score map must be single-channel grayscale, got "
                         f"{array.shape[2]} channels")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(array.dtype)
    if scale is None:
        raise ValueError(f"{path}: a PNG score map must be 8-bit or 16-bit, got {array.dtype}")
    return array.astype(np.float64) / scale


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
