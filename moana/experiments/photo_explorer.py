"""The explorer's demo data (notebooks/03_attention_maps with ``demo: true``): the real-photo set
of :mod:`moana.data.photos` with EfficientNet-Lite0 (its packaged ImageNet weights, no
fine-tuning), the kit's CAM and post-hoc CAM methods as the explorer's methods.

Each photo is resized to 224x224 with its annotated box. The explorer's "true class" of a photo
is the network's top-1 class (the set has no class for some photos; the photo table scores the
top-1 map too); its class menu offers the top-1 classes of all shown photos, with ImageNet
names. Needs the ``demo`` extra (timm, the packaged weights, pytorch-grad-cam).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: the demo's methods: the kit's CAM and one post-hoc method
DEMO_METHODS = ("cam", "gradcam")
#: the demo's opening CAM threshold: about where the photo table's oracle thresholds lie
DEMO_THRESHOLD = 0.2


def imagenet_names(ids: Sequence[int]) -> list[str]:
    """ImageNet-1k names of class ``ids`` (timm's class descriptions; ``ImageNet class k``
    where timm has none)."""
    try:
        from timm.data import ImageNetInfo

        info = ImageNetInfo()
        return [info.index_to_description(int(k)) for k in ids]
    except (ImportError, AttributeError):
        return [f"ImageNet class {int(k)}" for k in ids]


def photo_explorer_data(methods: Sequence[str] = DEMO_METHODS, *, arch: str = "efficientnet_lite0",
                        num_images: int | None = None):
    """:class:`~moana.viz.explorer.ExplorerData` of the first ``num_images`` photos (all by
    default): for each method the (N, K, 224, 224) score maps of the K top-1 classes of those
    photos, labels = each photo's top-1 class among them."""
    import cv2
    import torch

    from moana.data.photos import load_photos
    from moana.experiments.photos import IMAGE_SIZE, method_maps
    from moana.models.efficientnet_lite import efficientnet_lite, lite_preprocess
    from moana.viz.explorer import ExplorerData

    images, records = load_photos()
    images, records = images[:num_images], records[:num_images]
    if not records:
        raise ValueError("no photos to show (num_images must be at least 1)")
    net = efficientnet_lite(arch)
    batch = torch.stack([lite_preprocess(i, IMAGE_SIZE) for i in images])
    with torch.no_grad():
        top1 = net(batch).argmax(1).tolist()
    classes = sorted(set(top1))
    class_maps = {}
    for method in methods:
        per_class = [method_maps(net, method, batch, torch.full((len(images),), k))
                     for k in classes]
        class_maps[method] = np.stack(per_class, axis=1).astype(np.float32)
    shown = [cv2.resize(i, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR)
             for i in images]
    boxes = [np.array([[r.box[0] * IMAGE_SIZE / i.shape[1], r.box[1] * IMAGE_SIZE / i.shape[0],
                        r.box[2] * IMAGE_SIZE / i.shape[1], r.box[3] * IMAGE_SIZE / i.shape[0]]])
             for r, i in zip(records, images)]
    return ExplorerData(images=shown, image_ids=[f"{r.name} ({r.object})" for r in records],
                        labels=[classes.index(k) for k in top1], gt_boxes=boxes,
                        class_maps=class_maps, class_names=imagenet_names(classes),
                        label_kind="top-1 class")


def photo_explorer(methods: Sequence[str] = DEMO_METHODS, *, arch: str = "efficientnet_lite0",
                   num_images: int | None = None):
    """The explorer (:class:`moana.viz.explorer.Explorer`) on :func:`photo_explorer_data`,
    opening on the first method with the raw photo in the right panel."""
    from moana.viz.explorer import Explorer

    data = photo_explorer_data(methods, arch=arch, num_images=num_images)
    return Explorer(data, threshold=DEMO_THRESHOLD, attention="none", method=methods[0])
