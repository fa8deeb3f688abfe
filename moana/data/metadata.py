"""wsolevaluation's plain-text metadata (Choe et al., "Evaluating WSOL Methods Right", CVPR 2020).

A split folder holds ``image_ids.txt`` (path), ``class_labels.txt`` (path,label),
``image_sizes.txt`` (path,width,height) and ``localization.txt`` (path,x0,y0,x1,y1 — one line per
box — or path,mask,ignore for OpenImages). Image ids are paths relative to the data root.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from moana.data.text import TextFileError, text_lines

Box = tuple[int, int, int, int]


class MetadataError(TextFileError):
    """A malformed metadata file (a ``ValueError``); the message names the file and the line."""


@dataclass
class WSOLMetadata:
    """One split of a WSOL dataset, as read from its metadata folder.

    ``image_sizes`` maps an id to (width, height) in the original image; ``boxes`` holds the
    ground-truth boxes in original-image pixels; ``masks`` the mask PNG paths (relative to the
    mask root) and ``ignore`` the ignore PNG path (or None). Either ``boxes`` or ``masks`` may be
    empty, depending on the dataset.
    """

    directory: Path
    image_ids: list[str]
    class_labels: dict[str, int]
    image_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    boxes: dict[str, list[Box]] = field(default_factory=dict)
    masks: dict[str, list[str]] = field(default_factory=dict)
    ignore: dict[str, str | None] = field(default_factory=dict)
    #: line number of each id in ``image_ids.txt`` (1-based), for error messages.
    id_lines: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_classes(self) -> int:
        return max(self.class_labels.values()) + 1 if self.class_labels else 0

    def __len__(self) -> int:
        return len(self.image_ids)

    def where(self, image_id: str) -> str:
        """``image_ids.txt:<line>`` for an id, to point error messages at the metadata."""
        line = self.id_lines.get(image_id)
        path = self.directory / "image_ids.txt"
        return f"{path}:{line}" if line is not None else str(path)


METADATA_FILES = ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")
MASK_LOCALIZATION = "mask_localization.txt"




class _Collector:
    """Raise the first problem (loading) or collect them all (``moana data check``)."""

    def __init__(self, errors: list[MetadataError] | None):
        self.errors = errors

    def __call__(self, path: Path, line: int | None, message: str) -> None:
        error = MetadataError(path, line, message)
        if self.errors is None:
            raise error
        self.errors.append(error)

    def lines(self, path: Path) -> list[tuple[int, str]]:
        """Non-blank lines with 1-based numbers (BOM, CRLF accepted; see moana.data.text); a
        file that is not UTF-8 is reported and read as empty."""
        try:
            return text_lines(path)
        except TextFileError as err:
            self(err.path, err.line, err.message)
            return []


def _read_localization(
    path: Path,
    meta: WSOLMetadata,
    known: dict[str, int],
    report: _Collector,
    *,
    allowed: tuple[str, ...] = ("box", "mask"),
) -> None:
    kind: str | None = None
    seen: set[str] = set()
    duplicates: list[tuple[int, str]] = []
    for number, line in report.lines(path):
        parts = line.split(",")
        image_id = sys.intern(parts[0])
        if len(parts) == 5:
            line_kind = "box"
        elif len(parts) == 3:
            line_kind = "mask"
        else:
            report(path, number, f"expected 'path,x0,y0,x1,y1' or 'path,mask,ignore', got {line!r}")
            continue
        if line_kind not in allowed:
            report(path, number, f"expected a {' or '.join(allowed)} line, got {line!r}")
            continue
        if kind is None:
            kind = line_kind
        elif kind != line_kind:
            report(path, number, f"mixes box and mask lines (this one is a {line_kind} line)")
            continue
        if image_id not in known:
            report(path, number, f"image {image_id!r} is not listed in image_ids.txt")
            continue
        if line in seen:
            if line_kind == "mask":
                report(path, number, f"duplicated line {line!r}")
                continue
            duplicates.append((number, line))   # wsolevaluation keeps a repeated box
        seen.add(line)
        if line_kind == "box":
            try:
                x0, y0, x1, y1 = (int(float(v)) for v in parts[1:])
            except (ValueError, OverflowError):  # OverflowError: int(float("inf"))
                report(path, number, f"box coordinates must be numbers, got {','.join(parts[1:])!r}")
                continue
            size = meta.image_sizes.get(image_id)
            if x0 >= x1 or y0 >= y1:
                report(path, number, f"empty box ({x0},{y0},{x1},{y1}): needs x0 < x1 and y0 < y1")
                continue
            if x0 < 0 or y0 < 0 or (size is not None and (x1 > size[0] or y1 > size[1])):
                extent = f"{size[0]}x{size[1]}" if size else "its"
                report(path, number,
                       f"box ({x0},{y0},{x1},{y1}) lies outside the {extent} image {image_id!r}")
                continue
            meta.boxes.setdefault(image_id, []).append((x0, y0, x1, y1))
        else:
            mask, ignore = parts[1], parts[2]
            if not mask:
                report(path, number, "empty mask path")
                continue
            if image_id in meta.masks:
                if ignore:
                    report(path, number,
                           "the ignore path may only be given on an image's first line")
                    continue
                meta.masks[image_id].append(mask)
            else:
                meta.masks[image_id] = [mask]
                meta.ignore[image_id] = ignore or None
    _warn_duplicate_boxes(path, duplicates)


def _warn_duplicate_boxes(path: Path, duplicates: list[tuple[int, str]]) -> None:
    """One warning per file for exact repeats of a box line, which are kept: wsolevaluation's
    reader keeps them too (``get_bounding_boxes`` in ``data_loaders.py``), and a repeated box changes no IoU maximum."""
    if duplicates:
        number, line = duplicates[0]
        warnings.warn(f"{path}:{number}: {len(duplicates)} exact duplicate box line(s), the first "
                      f"{line!r}; kept, as wsolevaluation keeps them", stacklevel=3)


def _read_image_ids(path: Path, report: "_Collector") -> tuple[list[str], dict[str, int]]:
    """``image_ids.txt``: ids in order and the line of each. Ids are interned here and in the
    other files' readers, so that the dicts of a split share one string per id (a quarter
    less memory for a large split)."""
    ids: list[str] = []
    known: dict[str, int] = {}
    for number, line in report.lines(path):
        if "," in line:
            report(path, number, f"expected a single image path, got {line!r}")
            continue
        if line in known:
            report(path, number, f"duplicated image id {line!r} (first on line {known[line]})")
            continue
        line = sys.intern(line)
        known[line] = number
        ids.append(line)
    return ids, known


def _id_problem(image_id: str, seen: dict[str, int], known: dict[str, int]) -> str | None:
    """Why a per-image line cannot be taken: its id given before in this file (``seen``: id ->
    line) or not in ``image_ids.txt`` (``known``); None when it can."""
    if image_id in seen:
        return f"duplicated image id {image_id!r} (first on line {seen[image_id]})"
    if image_id not in known:
        return f"image {image_id!r} is not listed in image_ids.txt"
    return None


def _read_class_labels(path: Path, meta: WSOLMetadata, known: dict[str, int],
                       report: "_Collector", num_classes: int | None) -> None:
    """``class_labels.txt`` into ``meta.class_labels`` (ids in ``[0, num_classes)``)."""
    label_lines: dict[str, int] = {}
    mentioned: set[str] = set()
    for number, line in report.lines(path):
        parts = line.split(",")
        mentioned.add(parts[0])
        if len(parts) != 2:
            report(path, number, f"expected 'path,label', got {line!r}")
            continue
        image_id, label_text = sys.intern(parts[0]), parts[1]
        try:
            label = int(label_text)
        except ValueError:
            report(path, number, f"class label must be an integer, got {label_text!r}")
            continue
        if label < 0 or (num_classes is not None and label >= num_classes):
            bound = f"[0, {num_classes})" if num_classes is not None else "non-negative"
            report(path, number, f"class id {label} out of range (must be {bound})")
            continue
        problem = _id_problem(image_id, label_lines, known)
        if problem:
            report(path, number, problem)
            continue
        label_lines[image_id] = number
        meta.class_labels[image_id] = label
    for image_id, number in known.items():
        if image_id not in mentioned:
            report(path, None, f"no class label for {image_id!r} (image_ids.txt line {number})")


def _read_image_sizes(path: Path, meta: WSOLMetadata, known: dict[str, int],
                      report: "_Collector") -> None:
    """``image_sizes.txt`` into ``meta.image_sizes`` (may be empty, as OpenImages ships it)."""
    size_lines: dict[str, int] = {}
    for number, line in report.lines(path):
        parts = line.split(",")
        if len(parts) != 3:
            report(path, number, f"expected 'path,width,height', got {line!r}")
            continue
        image_id = sys.intern(parts[0])
        try:
            width, height = int(parts[1]), int(parts[2])
        except ValueError:
            report(path, number, f"width and height must be integers, got {line!r}")
            continue
        if width <= 0 or height <= 0:
            report(path, number, f"image size must be positive, got {width}x{height}")
            continue
        problem = _id_problem(image_id, size_lines, known)
        if problem:
            report(path, number, problem)
            continue
        size_lines[image_id] = number
        meta.image_sizes[image_id] = (width, height)
    if size_lines:  # OpenImages ships an empty image_sizes.txt
        for image_id, number in known.items():
            if image_id not in size_lines:
                report(path, None, f"no size for {image_id!r} (image_ids.txt line {number})")


def read_wsol_metadata(
    split_dir: Path | str,
    *,
    num_classes: int | None = None,
    errors: list[MetadataError] | None = None,
) -> WSOLMetadata:
    """Read one split folder of wsolevaluation metadata (clovaai/wsolevaluation ``metadata/``:
    ``image_ids.txt``, ``class_labels.txt``, ``image_sizes.txt``, ``localization.txt``).

    With ``errors=None`` the first problem raises :class:`MetadataError` (file and line); with a
    list, every problem is appended to it and the readable part is returned (``moana data
    check``). ``num_classes`` bounds the class ids when given. A missing folder or required file
    raises FileNotFoundError.
    """
    directory = Path(split_dir)
    report = _Collector(errors)
    if not directory.is_dir():
        raise FileNotFoundError(f"metadata folder {directory} does not exist" if not
                                directory.exists() else f"{directory} is not a metadata folder")
    for name in ("image_ids.txt", "class_labels.txt"):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name} is missing (a wsolevaluation split needs "
                                    f"{', '.join(METADATA_FILES)})")
    meta = WSOLMetadata(directory=directory, image_ids=[], class_labels={})
    meta.image_ids, known = _read_image_ids(directory / "image_ids.txt", report)
    meta.id_lines = known
    _read_class_labels(directory / "class_labels.txt", meta, known, report, num_classes)
    if (directory / "image_sizes.txt").is_file():
        _read_image_sizes(directory / "image_sizes.txt", meta, known, report)
    path = directory / "localization.txt"
    if path.is_file():
        _read_localization(path, meta, known, report)
        has = set(meta.boxes) | set(meta.masks)
        if has:
            for image_id, number in known.items():
                if image_id not in has:
                    report(path, None,
                           f"no box or mask for {image_id!r} (image_ids.txt line {number})")
    path = directory / MASK_LOCALIZATION
    if path.is_file():
        _read_localization(path, meta, known, report, allowed=("mask",))
    return meta


def load_wsol_metadata(split_dir: Path | str, *, num_classes: int | None = None) -> WSOLMetadata:
    """Read a wsolevaluation split folder; the first problem raises :class:`MetadataError`."""
    return read_wsol_metadata(split_dir, num_classes=num_classes)
