"""wsolevaluation metadata reader: the real release files and every kind of bad line."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from moana.data.metadata import MetadataError, load_wsol_metadata, read_wsol_metadata


@pytest.mark.parametrize("split, count, boxes", [("train", 5994, 5994), ("val", 1000, 1000),
                                                 ("test", 5794, 5794)])
def test_reads_reference_cub(reference_dir: Path, split: str, count: int, boxes: int) -> None:
    meta = load_wsol_metadata(reference_dir / "wsol_metadata" / "CUB" / split)
    assert len(meta) == count and meta.num_classes == 200
    assert sum(len(b) for b in meta.boxes.values()) == boxes
    assert set(meta.image_sizes) == set(meta.image_ids)


def test_reads_reference_cub_values(reference_dir: Path) -> None:
    meta = load_wsol_metadata(reference_dir / "wsol_metadata" / "CUB" / "train")
    first = "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg"
    assert meta.image_ids[0] == first
    assert meta.class_labels[first] == 0
    assert meta.image_sizes[first] == (500, 336)
    assert meta.boxes[first] == [(139, 30, 292, 294)]
    assert meta.where(first).endswith("image_ids.txt:1")


def test_reads_reference_ilsvrc_val_with_several_boxes(reference_dir: Path) -> None:
    meta = load_wsol_metadata(reference_dir / "wsol_metadata" / "ILSVRC" / "val")
    assert len(meta) == 10000 and meta.num_classes == 1000
    assert sum(len(b) for b in meta.boxes.values()) == 18532
    assert meta.boxes["val2/0/0.jpeg"][0] == (156, 163, 318, 230)
    assert max(len(b) for b in meta.boxes.values()) > 1


def test_reads_reference_openimages_masks(reference_dir: Path) -> None:
    meta = load_wsol_metadata(reference_dir / "wsol_metadata" / "OpenImages" / "val")
    assert len(meta) == 2500 and meta.num_classes == 100
    assert not meta.boxes and not meta.image_sizes  # image_sizes.txt is empty for OpenImages
    assert sum(len(m) for m in meta.masks.values()) == 3854
    first = "val/01226z/32fdab44f6e415f1.jpg"
    assert meta.masks[first] == ["val/01226z/32fdab44f6e415f1_m01226z_7dab3053.png"]
    assert meta.ignore[first] == "val/01226z/32fdab44f6e415f1_ignore.png"
    several = next(i for i, m in meta.masks.items() if len(m) > 1)
    assert meta.ignore[several]  # given on the first line only, kept


def _split(tmp_path: Path, **files: str) -> Path:
    base = {
        "image_ids": "a.png\nb.png",
        "class_labels": "a.png,0\nb.png,1",
        "image_sizes": "a.png,10,20\nb.png,30,40",
        "localization": "a.png,1,2,5,6\nb.png,0,0,30,40",
    }
    base.update(files)
    split = tmp_path / "split"
    split.mkdir(exist_ok=True)
    for name, text in base.items():
        (split / f"{name}.txt").write_text(text)
    return split


def test_good_split_and_trailing_newline(tmp_path: Path) -> None:
    meta = load_wsol_metadata(_split(tmp_path, image_ids="a.png\nb.png\n"))
    assert meta.image_ids == ["a.png", "b.png"] and meta.boxes["b.png"] == [(0, 0, 30, 40)]


@pytest.mark.parametrize("files, where, message", [
    ({"class_labels": "a.png,0\nb.png"}, "class_labels.txt:2", "expected 'path,label'"),
    ({"class_labels": "a.png,0\nb.png,x"}, "class_labels.txt:2", "must be an integer"),
    ({"image_ids": "a.png\nb.png\na.png"}, "image_ids.txt:3", "duplicated image id 'a.png'"),
    ({"class_labels": "a.png,0\nb.png,1\nb.png,1"}, "class_labels.txt:3", "duplicated"),
    ({"localization": "a.png,m.png,\na.png,m.png,\nb.png,n.png,"}, "localization.txt:2",
     "duplicated line"),
    ({"localization": "a.png,1,2,5,6\nb.png,0,0,31,40"}, "localization.txt:2",
     "outside the 30x40 image"),
    ({"localization": "a.png,-1,2,5,6\nb.png,0,0,3,4"}, "localization.txt:1", "outside"),
    ({"localization": "a.png,5,2,1,6\nb.png,0,0,3,4"}, "localization.txt:1", "empty box"),
    ({"localization": "a.png,1,2,5\nb.png,0,0,3,4"}, "localization.txt:1", "expected 'path,"),
    ({"localization": "a.png,1,2,5,z\nb.png,0,0,3,4"}, "localization.txt:1", "must be numbers"),
    ({"class_labels": "a.png,0\nb.png,-2"}, "class_labels.txt:2", "class id -2 out of range"),
    ({"class_labels": "a.png,0\nc.png,1"}, "class_labels.txt:2",
     "'c.png' is not listed in image_ids.txt"),
    ({"image_sizes": "a.png,10,20"}, "image_sizes.txt", "no size for 'b.png'"),
    ({"localization": "a.png,1,2,5,6"}, "localization.txt", "no box or mask for 'b.png'"),
    ({"localization": "a.png,1,2,5,6\nb.png,m.png,i.png"}, "localization.txt:2", "mixes box"),
])
def test_bad_metadata_names_file_and_line(tmp_path: Path, files: dict, where: str,
                                          message: str) -> None:
    with pytest.raises(MetadataError) as info:
        load_wsol_metadata(_split(tmp_path, **files))
    assert where in str(info.value) and message in str(info.value)


def test_duplicate_box_line_is_kept_with_a_warning(tmp_path: Path) -> None:
    split = _split(tmp_path, localization="a.png,1,2,5,6\na.png,1,2,5,6\nb.png,0,0,3,4")
    with pytest.warns(UserWarning, match=r"localization\.txt:2: 1 exact duplicate box line"):
        meta = load_wsol_metadata(split)
    assert meta.boxes["a.png"] == [(1, 2, 5, 6), (1, 2, 5, 6)]   # kept, as wsolevaluation


@pytest.mark.parametrize("dataset, split, images", [
    ("CUB", "train", 5994), ("CUB", "val", 1000), ("CUB", "test", 5794),
    ("ILSVRC", "val", 10000), ("ILSVRC", "test", 50000),
    ("OpenImages", "train", 29819), ("OpenImages", "val", 2500), ("OpenImages", "test", 5000),
])
def test_every_reference_split_loads(reference_dir: Path, dataset: str, split: str,
                                     images: int) -> None:
    """Every split of wsolevaluation's metadata folder loads (ILSVRC test: with a warning for
    its 4 exact duplicate box lines, the first at line 13383)."""
    path = reference_dir / "wsol_metadata" / dataset / split
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        meta = load_wsol_metadata(path)
    assert len(meta) == images
    dup = [str(w.message) for w in caught if "duplicate box" in str(w.message)]
    if (dataset, split) == ("ILSVRC", "test"):
        assert len(dup) == 1 and "localization.txt:13383: 4 exact duplicate" in dup[0]
    else:
        assert not dup


def test_class_id_bound(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"class_labels.txt:2: class id 1 out of range"):
        load_wsol_metadata(_split(tmp_path), num_classes=1)


def test_ignore_only_on_first_line(tmp_path: Path) -> None:
    split = _split(tmp_path, image_sizes="", localization=(
        "a.png,a_m1.png,a_ignore.png\na.png,a_m2.png,a_ignore.png\nb.png,b_m.png,"))
    with pytest.raises(MetadataError, match=r"localization.txt:2: the ignore path may only"):
        load_wsol_metadata(split)


def test_collects_all_problems(tmp_path: Path) -> None:
    split = _split(tmp_path, image_ids="a.png\nb.png\nb.png",
                   class_labels="a.png,0\nb.png,q", localization="a.png,1,2,99,6\nb.png,0,0,3,4")
    errors: list[MetadataError] = []
    meta = read_wsol_metadata(split, errors=errors)
    text = "\n".join(map(str, errors))
    assert "image_ids.txt:3" in text and "class_labels.txt:2" in text
    assert "localization.txt:1" in text and len(meta.image_ids) == 2


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_wsol_metadata(tmp_path / "nope")
    split = _split(tmp_path)
    (split / "class_labels.txt").unlink()
    with pytest.raises(FileNotFoundError, match="class_labels.txt is missing"):
        load_wsol_metadata(split)
