"""What a WSSS step's output depends on, as digests (part of the step's identity).

A step's marker (:mod:`moana.wsss.pipeline`) holds its parameters and these input digests, so
a step whose input files changed is not reported "complete" from outputs made from the old
files. The digests, per kind of input:

- image-level labels (``data.cls_labels``): the label vectors of the images the step uses,
  whatever file they were read from (pointing ``data.cls_labels`` at another file with other
  labels changes it; re-saving the same labels does not);
- image lists: the ids (already part of the parameters);
- ground-truth label maps (``SegmentationClass``) and checkpoints (``cam_model.pt``,
  ``irn_model.pt``, ``seg_model.pt``): their bytes (SHA-1);
- per-image outputs of upstream steps (CAMs, IR labels, pseudo-masks): name, size and
  modification time of each file (any rewrite changes it);
- dataset images: name and size of each file (reading every JPEG at each check would cost
  minutes on VOC; a copy of the dataset elsewhere keeps the digest).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["labels_digest", "bytes_digest", "stat_digest", "step_inputs"]

_BYTES_CACHE: dict[tuple[str, int, int], str] = {}


def _sha1(parts: Sequence[str]) -> str:
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def labels_digest(labels: Mapping[str, np.ndarray], ids: Sequence[str]) -> str:
    """Digest of the 0/1 label vectors of ``ids`` (``-`` for an id without labels)."""
    rows = []
    for image_id in ids:
        vector = labels.get(image_id)
        row = "-" if vector is None else "".join(
            str(int(v)) for v in np.asarray(vector).ravel())
        rows.append(f"{image_id}:{row}")
    return _sha1(rows)


def bytes_digest(path: Path) -> str:
    """SHA-1 of a file's bytes (``missing`` when absent); cached per (path, size, mtime)."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _BYTES_CACHE:
        sha = hashlib.sha1()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                sha.update(chunk)
        _BYTES_CACHE[key] = sha.hexdigest()[:16]
    return _BYTES_CACHE[key]


def stat_digest(paths: Sequence[Path], *, mtime: bool = True) -> str:
    """Digest of each file's name, size (and modification time); ``missing`` for absent ones."""
    rows = []
    for path in paths:
        try:
            st = path.stat()
            rows.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns if mtime else ''}")
        except OSError:
            rows.append(f"{path.name}:missing")
    return _sha1(rows)


def _gt_digest(root: Path, ids: Sequence[str]) -> str:
    from moana.data.voc import LABEL_DIR

    return _sha1([f"{i}:{bytes_digest(root / LABEL_DIR / f'{i}.png')}" for i in ids])


def _images_digest(root: Path, ids: Sequence[str]) -> str:
    from moana.data.voc import image_path

    return stat_digest([image_path(root, i) for i in ids], mtime=False)


def step_inputs(step: str, *, root: Path, labels: Mapping[str, np.ndarray],
                ids: Mapping[str, Sequence[str]], dirs: Mapping[str, Path]) -> dict[str, str]:
    """The input digests of ``step``.

    ``ids`` maps the id sets (``train``, ``cam``, ``eval``, ``sem_seg``, ``seg_train``,
    ``seg_val``) to their ids; ``dirs`` is :func:`moana.wsss.pipeline.run_dirs`.
    """
    def per_image(folder: str, suffix: str, which: str) -> Callable[[], str]:
        return lambda: stat_digest([dirs[folder] / f"{i}{suffix}" for i in ids[which]])

    def images(which: str) -> Callable[[], str]:
        return lambda: _images_digest(root, ids[which])

    def gt(which: str) -> Callable[[], str]:
        return lambda: _gt_digest(root, ids[which])

    def labels_of(which: str) -> Callable[[], str]:
        return lambda: labels_digest(labels, ids[which])

    def checkpoint(name: str) -> Callable[[], str]:
        return lambda: bytes_digest(dirs[name])

    table: dict[str, dict[str, Callable[[], str]]] = {
        "train_cam": {"cls_labels": labels_of("train"), "images": images("train")},
        "make_cam": {"cls_labels": labels_of("cam"), "images": images("cam"),
                     "cam_model": checkpoint("cam_model")},
        "eval_cam": {"gt": gt("eval"), "cams": per_image("cams", ".npy", "eval")},
        "ir_label": {"images": images("train"), "cams": per_image("cams", ".npy", "train")},
        "train_irn": {"images": images("train"),
                      "ir_label": per_image("ir_label", ".png", "train")},
        "make_sem_seg": {"images": images("sem_seg"), "irn_model": checkpoint("irn_model"),
                         "cams": per_image("cams", ".npy", "sem_seg")},
        "eval_sem_seg": {"gt": gt("eval"), "sem_seg": per_image("sem_seg", ".png", "eval")},
        "train_seg": {"images": images("seg_train"),
                      "sem_seg": per_image("sem_seg", ".png", "seg_train")},
        "eval_seg": {"images": images("seg_val"), "gt": gt("seg_val"),
                     "seg_model": checkpoint("seg_model")},
    }
    if step not in table:
        raise ValueError(f"unknown step {step!r}; steps are {list(table)}")
    return {name: digest() for name, digest in table[step].items()}
