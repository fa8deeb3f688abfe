"""A small real-photo localization set: photographs shipped inside installed packages
(scikit-image ``skimage.data``, scikit-learn's sample images, matplotlib's sample data) with one
box per photo, hand-annotated by this kit and stored in ``photos.csv`` beside this module.

The pixels are never stored with the kit: :func:`load_photos` reads them from the packages (the
``demo`` extra installs them). Each record names the annotated object, its ImageNet-1k class
ids (empty where no class fits), the source and the license.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: the annotation file shipped with the package
PHOTOS_CSV = Path(__file__).with_name("photos.csv")
_COLUMNS = ("name", "loader", "object", "class_ids", "x0", "y0", "x1", "y1", "source", "license")


@dataclass(frozen=True)
class PhotoRecord:
    """One annotated photo: ``box`` is (x0, y0, x1, y1) in the photo's original pixels."""

    name: str
    loader: str
    object: str
    class_ids: tuple[int, ...]
    box: tuple[int, int, int, int]
    source: str
    license: str


def read_photo_records(path: str | Path = PHOTOS_CSV) -> list[PhotoRecord]:
    """Parse the annotation CSV (``#`` lines are comments). ValueError naming file and line for
    a wrong header, a non-integer box or class id, or an empty box."""
    path = Path(path)
    lines = [(n, line) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise ValueError(f"{path}: no header line")
    rows = list(csv.reader([line for _, line in lines]))
    if tuple(rows[0]) != _COLUMNS:
        raise ValueError(f"{path}:{lines[0][0]}: header must be {','.join(_COLUMNS)}")
    return [_record(row, f"{path}:{n}") for (n, _), row in zip(lines[1:], rows[1:])]


def _record(row: list[str], where: str) -> PhotoRecord:
    if len(row) != len(_COLUMNS):
        raise ValueError(f"{where}: expected {len(_COLUMNS)} fields, got {len(row)}")
    field = dict(zip(_COLUMNS, row))
    try:
        box = tuple(int(field[k]) for k in ("x0", "y0", "x1", "y1"))
        ids = () if field["class_ids"] == "none" else tuple(
            int(c) for c in field["class_ids"].split(";"))
    except ValueError as err:
        raise ValueError(f"{where}: box and class ids must be integers ({err})") from err
    if not (box[0] < box[2] and box[1] < box[3]):
        raise ValueError(f"{where}: box {box} is empty (need x0 < x1 and y0 < y1)")
    if any(not 0 <= c < 1000 for c in ids):
        raise ValueError(f"{where}: ImageNet class ids are 0..999, got {ids}")
    return PhotoRecord(field["name"], field["loader"], field["object"], ids,
                       box, field["source"], field["license"])  # type: ignore[arg-type]


def load_photo(loader: str) -> np.ndarray:
    """The RGB uint8 image a record's ``loader`` names: ``skimage.data.<function>`` (the left
    image for ``stereo_motorcycle``), ``sklearn:<file>`` (``load_sample_image``) or
    ``matplotlib:<file>`` (matplotlib's sample data). ModuleNotFoundError says to install the
    ``demo`` extra."""
    try:
        if loader.startswith("skimage.data."):
            import skimage.data

            image = getattr(skimage.data, loader.rsplit(".", 1)[1])()
            image = image[0] if isinstance(image, tuple) else image
        elif loader.startswith("sklearn:"):
            from sklearn.datasets import load_sample_image

            image = load_sample_image(loader.split(":", 1)[1])
        elif loader.startswith("matplotlib:"):
            import matplotlib.cbook
            import matplotlib.image

            with matplotlib.cbook.get_sample_data(loader.split(":", 1)[1]) as f:
                image = matplotlib.image.imread(f)
        else:
            raise ValueError(f"unknown photo loader {loader!r} (skimage.data.<name>, "
                             "sklearn:<file> or matplotlib:<file>)")
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(f"photo {loader!r} needs {err.name}: pip install "
                                  "'moana[demo]'") from err
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"photo {loader!r}: expected an RGB uint8 image, got {image.dtype} "
                         f"{image.shape}")
    return image


def load_photos(path: str | Path = PHOTOS_CSV) -> tuple[list[np.ndarray], list[PhotoRecord]]:
    """All annotated photos (RGB uint8, original size) and their records, in file order.
    ValueError naming the record when its box does not lie inside its image."""
    records = read_photo_records(path)
    images = [load_photo(r.loader) for r in records]
    for image, r in zip(images, records):
        h, w = image.shape[:2]
        if r.box[2] > w or r.box[3] > h or min(r.box) < 0:
            raise ValueError(f"{path}: box {r.box} of photo {r.name!r} lies outside its "
                             f"{w}x{h} image")
    return images, records
