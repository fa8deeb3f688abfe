"""WSOL transforms and evaluators on images smaller than their resize or crop (1x1, 1xN):
resized like wsolevaluation (torchvision's Resize to a square); sizes that are not positive
integers are refused by name."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from moana.data.metadata import load_wsol_metadata
from moana.data.transforms import wsol_eval_transform, wsol_train_transform
from moana.data.wsol import WSOLDataset
from moana.metrics.boxes import BoxEvaluator
from moana.metrics.masks import MaskEvaluator

SIZES = [(1, 1), (1, 7), (7, 1), (2, 300)]


@pytest.mark.parametrize("size", SIZES)
def test_transforms_resize_tiny_images_like_torchvision(size):
    from torchvision.transforms import functional as TF

    image = Image.new("RGB", size, (10, 200, 30))
    train = wsol_train_transform(8, 6)(image)
    evaluated = wsol_eval_transform(5)(image)
    assert train.shape == (3, 6, 6) and evaluated.shape == (3, 5, 5)
    expected = TF.normalize(TF.to_tensor(TF.resize(image, [5, 5])),
                            (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    torch.testing.assert_close(evaluated, expected)
    assert torch.isfinite(train).all()


@pytest.mark.parametrize("bad", [0, -1, 2.5, "224", True, None])
def test_sizes_that_are_not_positive_integers_are_named(bad):
    with pytest.raises(ValueError, match=r"resize_size must be a positive integer"):
        wsol_train_transform(bad, 1)
    with pytest.raises(ValueError, match=r"crop_size must be a positive integer"):
        wsol_train_transform(8, bad)
    with pytest.raises(ValueError, match=r"image_size must be a positive integer"):
        wsol_eval_transform(bad)


def _tiny_split(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    meta = tmp_path / "meta"
    meta.mkdir()
    rows = {"a.png": ((1, 1), (0, 0, 1, 1)), "b.png": ((1, 5), (0, 1, 1, 4)),
            "c.png": ((7, 1), (2, 0, 5, 1))}
    for name, ((w, h), _) in rows.items():
        Image.new("RGB", (w, h), (255, 0, 0)).save(images / name)
        Image.new("L", (w, h), 255).save(images / f"mask_{name}")
    (meta / "image_ids.txt").write_text("\n".join(rows))
    (meta / "class_labels.txt").write_text("\n".join(f"{n},0" for n in rows))
    (meta / "image_sizes.txt").write_text("\n".join(f"{n},{w},{h}" for n, ((w, h), _) in rows.items()))
    (meta / "localization.txt").write_text(
        "\n".join(f"{n},{','.join(map(str, box))}" for n, (_, box) in rows.items()))
    return images, meta


def test_dataset_and_box_evaluator_on_one_pixel_images(tmp_path):
    images, meta = _tiny_split(tmp_path)
    data = WSOLDataset(images, meta, train=False, image_size=4)
    for index in range(len(data)):
        image, label, image_id = data[index]
        assert image.shape == (3, 4, 4) and label == 0
    assert data.boxes("a.png").tolist() == [[0, 0, 4, 4]]
    metadata = load_wsol_metadata(meta)
    for size in (224, 1):
        evaluator = BoxEvaluator(metadata, image_size=size)
        for image_id in metadata.image_ids:
            evaluator.accumulate(np.ones((size, size)) * 0.5, image_id)
        assert np.isfinite(evaluator.compute()["MaxBoxAccV2"])
    for bad in (0, -224):
        with pytest.raises(ValueError, match="image_size must be a positive integer"):
            BoxEvaluator(metadata, image_size=bad)


def test_mask_evaluator_on_one_pixel_masks(tmp_path):
    images, meta = _tiny_split(tmp_path)
    names = (meta / "image_ids.txt").read_text().split()
    (meta / "localization.txt").write_text("\n".join(f"{n},mask_{n}," for n in names))
    metadata = load_wsol_metadata(meta)
    for size in (224, 1):
        evaluator = MaskEvaluator(metadata, images, image_size=size)
        for image_id in names:
            evaluator.accumulate(np.full((size, size), 0.7), image_id)
        assert np.isfinite(evaluator.compute()["PxAP"])
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="image_size must be a positive integer"):
            MaskEvaluator(metadata, images, image_size=bad)


@pytest.mark.parametrize("override", ["data.image_size=0", "data.crop_size=0",
                                      "data.resize_size=0"])
def test_train_config_refuses_sizes_below_one_pixel(override):
    from moana.train.config import load_config

    with pytest.raises(ValueError, match=r"smoke_cam\.yaml: .*must be >= 1 \(pixels"):
        load_config("smoke_cam", [override])


@pytest.mark.parametrize("override", ["cam.crop_size=0", "cam.resize_long=[0, 8]",
                                      "cam.scales=[1.0, 0.0]", "cam.scales=[]",
                                      "irn.rescale=[-0.5, 1.0]", "seg.crop_size=0",
                                      "seg.eval_scales=[0]", "sem_seg.pad_size=0",
                                      "cam.cam_stride=0"])
def test_wsss_config_refuses_sizes_below_one_pixel_and_scales_of_zero(override):
    from moana.wsss import load_wsss_config

    key = override.split("=")[0]
    with pytest.raises(ValueError, match=rf"override '{re.escape(override)}': {key} must hold"):
        load_wsss_config("smoke", [override])
