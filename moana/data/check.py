"""Dataset checks behind ``moana data check``: report every problem at once (file and line).

Covers the wsolevaluation layout (Choe et al., CVPR 2020) and the VOC 2012 layout of IRN
(Ahn et al., CVPR 2019): malformed or duplicated metadata lines, mismatched id lists, class
ids out of range, boxes outside the image, missing or corrupt images and masks, label maps with
values that are not classes. By default every image, mask and label map is decoded in full
(``decode=True``): a truncated JPEG passes a header check and fails only when its pixels are
read. ``decode=False`` is a quick pass that opens headers only (no pixel-level checks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from moana.data.metadata import MetadataError, read_wsol_metadata
from moana.data.text import TextFileError
from moana.data.voc import LABEL_DIR, LIST_DIR, image_path, load_cls_labels, load_label_map, \
    read_id_lines

Size = tuple[int, int]


@dataclass
class CheckSummary:
    """What a check covered, for the closing line of ``moana data check``."""

    splits: int = 0       # WSOL split folders or VOC id lists
    images: int = 0       # image files opened
    boxes: int = 0        # ground-truth boxes read
    masks: int = 0        # mask / ignore PNGs (WSOL) or label maps (VOC) opened
    decoded: bool = True  # pixels decoded (False: headers only)

    def format(self) -> str:
        """One line: splits/lists checked, images (decoded or headers only), boxes and masks counted."""
        how = "decoded" if self.decoded else "headers only, not decoded"
        return (f"checked {self.splits} split(s)/list(s): {self.images} image(s) ({how}), "
                f"{self.boxes} box(es), {self.masks} mask(s)/label map(s)")


def image_problem(path: Path, decode: bool = True) -> tuple[str | None, Size | None]:
    """(problem, (width, height)) of an image file; ``decode`` reads every pixel."""
    if not path.is_file():
        return f"missing file {path}", None
    try:
        with Image.open(path) as image:
            size = image.size
            if decode:
                image.load()
            else:
                image.verify()
        return None, size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as err:
        return f"corrupt image {path} ({err})", None


def _label_problem(path: Path, decode: bool = True) -> tuple[str | None, Size | None]:
    """Like :func:`image_problem` for a VOC label map; decoding also checks the class values."""
    if not decode:
        return image_problem(path, decode=False)
    try:
        label = load_label_map(path)
    except (FileNotFoundError, ValueError) as err:
        return str(err), None
    return None, (label.shape[1], label.shape[0])


def _inspect(paths: Sequence[Path], probe: Callable[[Path, bool], tuple], decode: bool,
             workers: int, progress: bool, desc: str) -> list[tuple[str | None, Size | None]]:
    """``probe(path, decode)`` of every path, in order, on ``workers`` threads (PIL releases
    the GIL while decoding), with a progress bar when ``progress``."""
    bar = tqdm(total=len(paths), desc=desc, unit="file", disable=not progress or not paths,
               leave=False)
    try:
        if workers <= 1:
            results = []
            for path in paths:
                results.append(probe(path, decode))
                bar.update()
            return results
        with ThreadPoolExecutor(workers) as pool:
            results = []
            for result in pool.map(lambda p: probe(p, decode), paths):
                results.append(result)
                bar.update()
            return results
    finally:
        bar.close()


def split_dirs(metadata: Path | str) -> list[Path]:
    """A split folder itself, or the split folders (with image_ids.txt) under a metadata root."""
    metadata = Path(metadata)
    if (metadata / "image_ids.txt").is_file():
        return [metadata]
    found = sorted(p.parent for p in metadata.glob("*/image_ids.txt"))
    if not found:
        raise FileNotFoundError(f"no image_ids.txt in {metadata} or its sub-folders")
    return found


def check_wsol_split(data_root: Path | str, split_dir: Path | str, *,
                     num_classes: int | None = None, mask_root: Path | str | None = None,
                     images: bool = True, decode: bool = True, workers: int = 1,
                     progress: bool = False, summary: CheckSummary | None = None) -> list[str]:
    """All problems of one wsolevaluation split, as ``file:line: message`` strings.

    ``images=False`` checks the metadata only; ``decode=False`` opens image headers without
    decoding pixels. ``summary`` (optional) is updated with what was checked.
    """
    summary = summary if summary is not None else CheckSummary()
    errors: list[MetadataError] = []
    try:
        meta = read_wsol_metadata(split_dir, num_classes=num_classes, errors=errors)
    except FileNotFoundError as err:
        return [str(err)]
    summary.splits += 1
    summary.boxes += sum(len(b) for b in meta.boxes.values())
    summary.decoded = summary.decoded and decode
    problems = [str(e) for e in errors]
    if not images:
        return problems
    data_root = Path(data_root)
    mask_root = Path(mask_root) if mask_root is not None else data_root
    results = _inspect([data_root / i for i in meta.image_ids], image_problem, decode, workers,
                       progress, f"images {Path(split_dir).name}")
    summary.images += len(results)
    for image_id, (problem, size) in zip(meta.image_ids, results):
        if problem:
            problems.append(f"{meta.where(image_id)}: {problem}")
        elif image_id in meta.image_sizes and size != meta.image_sizes[image_id]:
            w, h = meta.image_sizes[image_id]
            problems.append(f"{meta.directory / 'image_sizes.txt'}: {image_id} is listed as "
                            f"{w}x{h} but the image is {size[0]}x{size[1]}")
    owners = [(image_id, rel) for image_id, paths in meta.masks.items()
              for rel in paths + ([meta.ignore[image_id]] if meta.ignore.get(image_id) else [])]
    results = _inspect([mask_root / rel for _, rel in owners], image_problem, decode, workers,
                       progress, f"masks {Path(split_dir).name}")
    summary.masks += len(results)
    for (image_id, _), (problem, _) in zip(owners, results):
        if problem:
            problems.append(f"{meta.where(image_id)}: mask of {image_id}: {problem}")
    return problems


def check_voc(root: Path | str, *, lists: list[str] | None = None,
              cls_labels: Path | str | None = None, images: bool = True, decode: bool = True,
              workers: int = 1, progress: bool = False,
              summary: CheckSummary | None = None) -> list[str]:
    """All problems of a VOC2012 tree (IRN layout), as strings naming file (and line).

    Options as :func:`check_wsol_split`; label maps of ``ImageSets/Segmentation`` lists are
    decoded and their values checked (0..20 and 255) unless ``decode=False``.
    """
    summary = summary if summary is not None else CheckSummary()
    summary.decoded = summary.decoded and decode
    root = Path(root)
    problems: list[str] = []
    if not root.is_dir():
        return [f"VOC root {root} does not exist"]
    list_paths = ([Path(p) for p in lists] if lists else
                  [root / LIST_DIR / "train.txt", root / LIST_DIR / "val.txt"])
    if not lists and (root / "train_aug.txt").is_file():
        list_paths.append(root / "train_aug.txt")
    labels_path = Path(cls_labels) if cls_labels else root / "cls_labels.npy"
    labels = None
    try:
        labels = load_cls_labels(labels_path)
    except (FileNotFoundError, MetadataError) as err:
        problems.append(str(err))
    for list_path in list_paths:
        errors: list[MetadataError] = []
        try:
            entries = read_id_lines(list_path, errors)
        except (FileNotFoundError, TextFileError) as err:
            problems.append(str(err))
            continue
        summary.splits += 1
        problems += [str(e) for e in errors]
        for number, image_id in entries:
            if labels is not None and image_id not in labels and list_path.stem != "val":
                problems.append(f"{list_path}:{number}: {image_id} has no entry in {labels_path}")
        if images:
            problems += _check_voc_files(root, list_path, entries, decode, workers, progress,
                                         summary)
    return problems


def _check_voc_files(root: Path, list_path: Path, entries: list[tuple[int, str]], decode: bool,
                     workers: int, progress: bool, summary: CheckSummary) -> list[str]:
    problems: list[str] = []
    found = _inspect([image_path(root, i) for _, i in entries], image_problem, decode, workers,
                     progress, f"images {list_path.name}")
    summary.images += len(found)
    for (number, _), (problem, _) in zip(entries, found):
        if problem:
            problems.append(f"{list_path}:{number}: {problem}")
    if "Segmentation" not in list_path.parts:
        return problems
    label_paths = [root / LABEL_DIR / f"{i}.png" for _, i in entries]
    labels = _inspect(label_paths, _label_problem, decode, workers, progress,
                      f"label maps {list_path.name}")
    summary.masks += len(labels)
    for (number, _), path, (_, size), (problem, label_size) in zip(entries, label_paths, found,
                                                                 labels):
        if problem:
            problems.append(f"{list_path}:{number}: {problem}")
        elif size is not None and label_size != size:
            problems.append(f"{list_path}:{number}: {path} is {label_size[0]}x{label_size[1]} "
                            f"but the image is {size[0]}x{size[1]}")
    return problems
