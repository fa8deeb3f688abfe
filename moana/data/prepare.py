"""Dataset preparation behind ``data_prep/*.py``: check archives, extract, write metadata.

Layouts follow wsolevaluation (Choe et al., CVPR 2020) for CUB-200-2011, ILSVRC 2012 and
OpenImages30k (images under ``<root>/<DATASET>/``, metadata under
``<root>/metadata/<DATASET>/<split>/``) and IRN (Ahn et al., CVPR 2019) for PASCAL VOC 2012.
Every step is idempotent and restartable: an archive whose extraction record lists files that are
all present is not read again (missing or truncated files are extracted again,
:mod:`moana.data.archives`), and a metadata file already written with the same content is
skipped.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from moana.data.archives import ensure_extracted, missing_members, recorded_files, single_top_folder
from moana.data.metadata import METADATA_FILES, MASK_LOCALIZATION, MetadataError, load_wsol_metadata
from moana.data.text import text_lines
from moana.data.voc import LABEL_DIR, VOC_CLASSES, labels_from_segmentation, save_cls_labels
from moana import io


@dataclass(frozen=True)
class Archive:
    """A file a user downloads by hand: its usual name, checksum and where to get it."""

    name: str
    url: str
    md5: str | None = None


CUB_ARCHIVE = Archive("CUB_200_2011.tgz", "https://www.vision.caltech.edu/datasets/cub_200_2011/",
                      "97eceeb196236b17998738112f37df78")
VOC_ARCHIVE = Archive("VOCtrainval_11-May-2012.tar",
                      "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/",
                      "6cd6e144f989b92b3379bac3b3de84fd")
ILSVRC_TRAIN = Archive("ILSVRC2012_img_train.tar", "https://image-net.org/download-images.php",
                       "1d675b47d978889d74fa0da5fadfb00e")
ILSVRC_VAL = Archive("ILSVRC2012_img_val.tar", "https://image-net.org/download-images.php",
                     "29b22e2961454d5413ddabcf34fc5622")
WSOL_RELEASE = "https://github.com/clovaai/wsolevaluation (metadata/ folder and dataset links)"


def md5sum(path: Path, chunk: int = 1 << 22) -> str:
    """Hex MD5 of the file at ``path``, read in ``chunk``-byte blocks (checks downloaded archives)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def check_archive(path: Path | str, archive: Archive | None = None, *,
                  verify: bool = True) -> Path:
    """A readable archive, else FileNotFoundError / ValueError saying what and where to get it."""
    path = Path(path)
    hint = f" (download {archive.name} from {archive.url})" if archive else ""
    if not path.is_file():
        raise FileNotFoundError(f"archive {path} is missing{hint}")
    try:
        readable = zipfile.is_zipfile(path) or tarfile.is_tarfile(path)
    except (EOFError, OSError, tarfile.TarError):
        readable = False
    if not readable:
        raise ValueError(f"{path} is not a tar or zip archive (partial download?){hint}")
    if verify and archive and archive.md5:
        got = md5sum(path)
        if got != archive.md5:
            raise ValueError(f"{path} has MD5 {got}, expected {archive.md5}: the download is "
                             f"partial or a different file{hint}")
    return path


def extract(path: Path | str, dest: Path | str) -> bool:
    """Extract a tar/zip into ``dest`` unless a marker shows every file of it is there (missing
    or truncated files are extracted again: :func:`moana.data.archives.ensure_extracted`);
    True if it extracted now."""
    return ensure_extracted(path, dest)


def _checker(spec: Archive | None, verify: bool):
    """check_archive for ensure_extracted (run only when the archive must be read)."""
    return lambda path: check_archive(path, spec, verify=verify)


def _hint(spec: Archive) -> str:
    return f" (download {spec.name} from {spec.url})"


def atomic_write_text(path: Path, text: str) -> bool:
    """Write text via a temporary file + os.replace; False (untouched) if already identical."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    io.atomic_write_text(path, text)
    return True


def _read_table(path: Path, columns: int) -> list[list[str]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (part of {CUB_ARCHIVE.name}, "
                                f"from {CUB_ARCHIVE.url})")
    rows = []
    for number, line in text_lines(path):  # BOM, CRLF, blank lines accepted
        parts = line.split()
        if len(parts) != columns:
            raise MetadataError(path, number, f"expected {columns} fields, got {line!r}")
        rows.append(parts)
    return rows


def cub_metadata(cub_dir: Path | str, image_root: Path | str | None = None
                 ) -> dict[str, dict[str, list[str]]]:
    """wsolevaluation's CUB train/test metadata lines from CUB's own files.

    ``cub_dir`` holds images.txt, bounding_boxes.txt (x y w h), train_test_split.txt and
    image_class_labels.txt; sizes are read from the images under ``image_root`` (default
    ``cub_dir/images``). Boxes become x0,y0,x0+w,y0+h; labels are 0-based; order is images.txt.
    """
    cub_dir = Path(cub_dir)
    image_root = Path(image_root) if image_root is not None else cub_dir / "images"
    images = _read_table(cub_dir / "images.txt", 2)
    boxes = {r[0]: r[1:] for r in _read_table(cub_dir / "bounding_boxes.txt", 5)}
    split = {r[0]: r[1] for r in _read_table(cub_dir / "train_test_split.txt", 2)}
    labels = {r[0]: r[1] for r in _read_table(cub_dir / "image_class_labels.txt", 2)}
    out: dict[str, dict[str, list[str]]] = {
        s: {name: [] for name in METADATA_FILES} for s in ("train", "test")}
    for number, image_id in images:
        for table, name in ((boxes, "bounding_boxes.txt"), (split, "train_test_split.txt"),
                            (labels, "image_class_labels.txt")):
            if number not in table:
                raise MetadataError(cub_dir / name, None, f"no entry for image {number} "
                                    f"({image_id}) of images.txt")
        lines = out["train" if split[number] == "1" else "test"]
        image_path = image_root / image_id
        if not image_path.is_file():
            raise FileNotFoundError(f"image {image_path} (images.txt, image {number}) is missing")
        with Image.open(image_path) as image:
            width, height = image.size
        x, y, w, h = (float(v) for v in boxes[number])
        lines["image_ids.txt"].append(image_id)
        lines["class_labels.txt"].append(f"{image_id},{int(labels[number]) - 1}")
        lines["image_sizes.txt"].append(f"{image_id},{width},{height}")
        lines["localization.txt"].append(f"{image_id},{int(x)},{int(y)},{int(x + w)},{int(y + h)}")
    return out


def write_split(split_dir: Path, lines: dict[str, list[str]]) -> None:
    """Write one split's files (wsolevaluation style: no trailing newline), then re-read them."""
    for name, rows in lines.items():
        atomic_write_text(split_dir / name, "\n".join(rows))
    load_wsol_metadata(split_dir)


def install_wsol_metadata(release_dir: Path | str, dataset: str, metadata_root: Path | str,
                          splits: Iterable[str] = ("train", "val", "test")) -> list[Path]:
    """Copy ``<release_dir>/<dataset>/<split>`` of wsolevaluation's metadata release, checked."""
    release_dir, metadata_root = Path(release_dir), Path(metadata_root)
    if (release_dir / "metadata").is_dir():
        release_dir = release_dir / "metadata"
    installed = []
    for split in splits:
        source = release_dir / dataset / split
        if not (source / "image_ids.txt").is_file():
            raise FileNotFoundError(f"{source}/image_ids.txt is missing: pass the metadata/ "
                                    f"folder of {WSOL_RELEASE}")
        load_wsol_metadata(source)  # refuse a broken release before copying
        target = metadata_root / dataset / split
        for name in (*METADATA_FILES, MASK_LOCALIZATION):
            if (source / name).is_file():
                atomic_write_text(target / name, (source / name).read_text(encoding="utf-8"))
        installed.append(target)
    return installed


def voc_labels_from_xml(path: Path) -> np.ndarray:
    """Multi-hot (20,) of the object names in a VOC Annotations XML file."""
    try:
        tree = ET.parse(path)
    except (ET.ParseError, OSError) as err:
        raise ValueError(f"annotation {path} is unreadable: {err}") from err
    vector = np.zeros(len(VOC_CLASSES), np.float32)
    for number, obj in enumerate(tree.getroot().iter("object"), start=1):
        name = (obj.findtext("name") or "").strip()
        if name not in VOC_CLASSES:
            raise ValueError(f"annotation {path}: object {number} has unknown class {name!r}")
        vector[VOC_CLASSES.index(name)] = 1
    return vector


def voc_cls_labels(voc_root: Path | str, ids: Iterable[str], *,
                   source: str = "auto") -> dict[str, np.ndarray]:
    """Image-level labels from SegmentationClass PNGs or Annotations XML (``auto``: PNG first)."""
    voc_root = Path(voc_root)
    labels = {}
    for image_id in ids:
        png = voc_root / LABEL_DIR / f"{image_id}.png"
        xml = voc_root / "Annotations" / f"{image_id}.xml"
        if source in ("auto", "segmentation") and png.is_file():
            with Image.open(png) as image:
                labels[image_id] = labels_from_segmentation(np.asarray(image))
        elif source in ("auto", "annotations") and xml.is_file():
            labels[image_id] = voc_labels_from_xml(xml)
        else:
            raise FileNotFoundError(f"no {LABEL_DIR}/{image_id}.png or Annotations/{image_id}.xml "
                                    f"under {voc_root} (source={source})")
    return labels


def write_voc_cls_labels(voc_root: Path | str, ids: Iterable[str], out: Path | str, *,
                         source: str = "auto") -> int:
    """Write IRN's ``cls_labels.npy`` (image id -> 20-dim multi-hot VOC class vector, no
    background; jiwoon-ahn/irn ``voc12/make_cls_labels.py``) for ``ids`` to ``out`` atomically,
    with the labels read by :func:`voc_cls_labels` (``source``: ``auto``, ``xml`` or ``png``).
    Returns the number of images.  Raises FileNotFoundError / ValueError (naming the file) on a
    missing or unreadable annotation."""
    labels = voc_cls_labels(voc_root, ids, source=source)
    save_cls_labels(out, labels)
    return len(labels)


def copy_file(source: Path, dest: Path) -> None:
    """Copy ``source`` to ``dest`` atomically, creating folders; skipped when ``dest`` already has
    the same bytes.  Raises FileNotFoundError (naming ``source``) when it is missing."""
    if not source.is_file():
        raise FileNotFoundError(f"{source} is missing")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and dest.read_bytes() == source.read_bytes():
        return
    io.atomic_write(dest, lambda tmp: shutil.copyfile(source, tmp))


# --- one function per dataset (``moana data prepare <dataset>`` and data_prep/*.py) -----------


def _release_splits(wsol_metadata: Path, dataset: str) -> list[str]:
    splits = [s for s in ("train", "val", "test")
              if (wsol_metadata / dataset / s).is_dir()
              or (wsol_metadata / "metadata" / dataset / s).is_dir()]
    if not splits:
        raise FileNotFoundError(f"no {dataset} splits under {wsol_metadata}: pass the "
                                f"metadata/ folder of {WSOL_RELEASE}")
    return splits


def prepare_cub(root: Path | str, archive: Path | str, *, wsol_metadata: Path | str | None = None,
                cubv2: Path | str | None = None, verify: bool = True) -> str:
    """CUB-200-2011 under ``root`` (wsolevaluation layout); returns a summary line.

    Extracts images to ``root/CUB/<class>/``, writes ``root/metadata/CUB/{train,test}`` from
    CUB's own files (:func:`cub_metadata`), extracts the CUBV2 images and installs the ``val``
    split from wsolevaluation's metadata release. Raises FileNotFoundError / ValueError naming
    the missing or broken file. Safe to rerun.
    """
    root = Path(root)
    staging = root / "_extracted"  # CUB's own text files; the images go to root/CUB directly
    ensure_extracted(archive, staging, routes=[("CUB_200_2011/images/", root / "CUB"),
                                               ("", staging)],
                     check=_checker(CUB_ARCHIVE, verify), hint=_hint(CUB_ARCHIVE))
    cub_dir = staging / "CUB_200_2011"
    for split, lines in cub_metadata(cub_dir, root / "CUB").items():
        write_split(root / "metadata" / "CUB" / split, lines)
    if cubv2:
        ensure_extracted(cubv2, root / "CUB", check=_checker(None, False))
    if wsol_metadata:
        install_wsol_metadata(wsol_metadata, "CUB", root / "metadata", splits=("val",))
        return f"CUB ready under {root}"
    return (f"CUB ready under {root} (train/test; no --wsol-metadata: the CUBV2 val split comes "
            f"from {WSOL_RELEASE})")


def _extract_ilsvrc_train(train: Path, base: Path, verify: bool) -> None:
    """The train tar holds one tar per class: each is extracted into ``train/<wnid>/``; the
    outer tar is read again only when a class is incomplete (its inner tar may be deleted)."""
    tars = base / "_train_tars"
    names = recorded_files(train, tars)
    if names is not None and all(
            missing_members(tars / n, base / "train" / Path(n).stem) == [] for n in names):
        return
    ensure_extracted(train, tars, check=_checker(ILSVRC_TRAIN, verify), hint=_hint(ILSVRC_TRAIN))
    for name in recorded_files(train, tars) or []:
        if name.endswith(".tar"):
            ensure_extracted(tars / name, base / "train" / Path(name).stem)


def prepare_ilsvrc(root: Path | str, wsol_metadata: Path | str, *, train: Path | str | None = None,
                   val: Path | str | None = None, imagenetv2: Path | str | None = None,
                   verify: bool = True) -> str:
    """ILSVRC 2012 (+ ImageNetV2 as val) under ``root``; returns a summary line.

    Train (one inner tar per class) -> ``ILSVRC/train/<wnid>/``, the official val images ->
    ``ILSVRC/val/`` (wsolevaluation's test split), ImageNetV2 -> ``ILSVRC/val2/<class>/`` (the
    val split); then wsolevaluation's ILSVRC metadata. Safe to rerun.
    """
    root, wsol_metadata = Path(root), Path(wsol_metadata)
    base = root / "ILSVRC"
    if train:
        _extract_ilsvrc_train(Path(train), base, verify)
    if val:
        ensure_extracted(val, base / "val", check=_checker(ILSVRC_VAL, verify),
                         hint=_hint(ILSVRC_VAL))
    if imagenetv2:
        imagenetv2, val2 = Path(imagenetv2), base / "val2"
        routes = None
        if missing_members(imagenetv2, val2) != [] and imagenetv2.is_file():
            check_archive(imagenetv2, verify=False)
            top = single_top_folder(imagenetv2)  # the class folders sit in one top folder
            routes = [(f"{top}/", val2)] if top else [("", val2)]
        ensure_extracted(imagenetv2, val2, routes=routes)
    splits = _release_splits(wsol_metadata, "ILSVRC")
    install_wsol_metadata(wsol_metadata, "ILSVRC", root / "metadata", splits)
    return f"ILSVRC ready under {root} (metadata splits: {', '.join(splits)})"


def prepare_openimages(root: Path | str, wsol_metadata: Path | str,
                       archives: Iterable[Path | str] = ()) -> str:
    """OpenImages30k (wsolevaluation's subset with masks) under ``root``; returns a summary.

    Extracts images and mask/ignore PNGs into ``root/OpenImages/`` (the mask paths of
    localization.txt are relative to it) and installs wsolevaluation's metadata. Safe to rerun.
    """
    root, wsol_metadata = Path(root), Path(wsol_metadata)
    target = root / "OpenImages"
    for archive in map(Path, archives):
        ensure_extracted(archive, target, routes=[("OpenImages/", target), ("", target)],
                         check=_checker(None, False))
    splits = _release_splits(wsol_metadata, "OpenImages")
    install_wsol_metadata(wsol_metadata, "OpenImages", root / "metadata", splits)
    return f"OpenImages ready under {root} (metadata splits: {', '.join(splits)})"


def prepare_voc(root: Path | str, archive: Path | str, *, irn_lists: Path | str | None = None,
                verify: bool = True) -> str:
    """PASCAL VOC 2012 in IRN's layout (``root/VOCdevkit/VOC2012``); returns a summary line.

    With ``irn_lists`` (IRN's voc12/ folder) its train_aug/train/val lists and cls_labels.npy
    are copied next to the images; otherwise cls_labels.npy is built from SegmentationClass
    PNGs (Annotations XML as fallback) for the ids of the segmentation lists. Safe to rerun.
    """
    from moana.data.voc import LIST_DIR, read_id_list

    root = Path(root)
    ensure_extracted(archive, root, check=_checker(VOC_ARCHIVE, verify), hint=_hint(VOC_ARCHIVE))
    voc = root / "VOCdevkit" / "VOC2012"
    if not (voc / "JPEGImages").is_dir():
        raise FileNotFoundError(f"{voc}/JPEGImages is missing after extraction: is {archive} "
                                f"the VOC2012 trainval archive ({VOC_ARCHIVE.url})?")
    if irn_lists:
        for name in ("train_aug.txt", "train.txt", "val.txt", "cls_labels.npy"):
            copy_file(Path(irn_lists) / name, voc / name)
        return f"VOC 2012 ready under {voc} (IRN lists from {irn_lists})"
    ids: dict[str, None] = {}
    for path in (voc / LIST_DIR / "train.txt", voc / LIST_DIR / "val.txt", voc / "train_aug.txt"):
        if path.is_file():
            ids.update(dict.fromkeys(read_id_list(path)))
    count = write_voc_cls_labels(voc, ids, voc / "cls_labels.npy")
    return f"VOC 2012 ready under {voc} (cls_labels.npy for {count} images)"
