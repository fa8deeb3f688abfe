"""CAMExtractor: hook-based CAMs of any GAP + linear classifier equal CAMNet's own maps, and
the README's torchvision + MoANA example continues to score maps and BoxEvaluator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from moana.cam import scoremap_from_cam
from moana.cam.hooks import CAMExtractor, linear_weights
from moana.data.metadata import WSOLMetadata
from moana.metrics import BoxEvaluator
from moana.models import build_model
from moana.nn import MoANA


def test_agrees_with_camnet_maps():
    torch.manual_seed(0)
    net = build_model("resnet18", method="moana", num_classes=5).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits, maps = net.forward_with_maps(x)
        extractor = CAMExtractor(net, target_layer="layer4", classifier=net.classifier,
                                 include_bias=True)
        hook_logits, hook_maps = extractor.forward_with_maps(x)
        torch.testing.assert_close(hook_logits, logits)
        torch.testing.assert_close(hook_maps, maps, rtol=1e-5, atol=1e-5)
        plain = CAMExtractor(net, net.layer4, net.classifier)  # Zhou et al.: no bias
        _, no_bias = plain.forward_with_maps(x)
        bias = net.classifier[0].bias[None, :, None, None]
        torch.testing.assert_close(no_bias + bias, maps, rtol=1e-5, atol=1e-5)
        labels = torch.tensor([1, 3])
        torch.testing.assert_close(plain.cams(x, labels) + bias[0, labels], net.cams(x, labels),
                                   rtol=1e-5, atol=1e-5)
        # same score maps (the bias is a constant per class)
        a = scoremap_from_cam(plain.cams(x, labels)[0].numpy(), "minmax")
        b = scoremap_from_cam(net.cams(x, labels)[0].numpy(), "minmax")
        np.testing.assert_allclose(a, b, atol=1e-5)
    extractor.remove()
    plain.remove()


def test_torchvision_resnet_with_moana_to_box_evaluator():
    """The README example: MoANA appended to a torchvision ResNet, then CAMs -> BoxEvaluator."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=4)
    net.layer4.append(MoANA(512, calibration="wsol"))
    net.eval()
    images, labels = torch.randn(2, 3, 64, 64), [0, 2]
    extractor = CAMExtractor(net, target_layer=net.layer4, classifier=net.fc)
    with torch.no_grad():
        logits, maps = extractor.forward_with_maps(images)
        torch.testing.assert_close(logits, net(images))
        # restated: CAM_k = sum_c W[k, c] * f_c with f the output of layer4
        feats = net.layer4(net.layer3(net.layer2(net.layer1(
            net.maxpool(net.relu(net.bn1(net.conv1(images))))))))
        want = torch.einsum("kc,bchw->bkhw", net.fc.weight, feats)
        torch.testing.assert_close(maps, want, rtol=1e-5, atol=1e-5)
        cams = extractor.cams(images, labels)
    assert cams.shape == (2, 2, 2)
    ids = ["a.jpg", "b.jpg"]
    meta = WSOLMetadata(directory=Path("x"), image_ids=ids, class_labels=dict(zip(ids, labels)),
                        image_sizes={i: (224, 224) for i in ids},
                        boxes={i: [(20, 20, 150, 150)] for i in ids})
    with BoxEvaluator(meta, step=0.01, multi_contour=True) as evaluator:
        for image_id, cam in zip(ids, cams):
            evaluator.accumulate(scoremap_from_cam(cam.numpy(), "minmax"), image_id)
        result = evaluator.compute()
    assert 0.0 <= result["MaxBoxAccV2"] <= 100.0


def test_wrong_head_or_layer_is_refused():
    net = torchvision.models.resnet18(weights=None, num_classes=3).eval()
    x = torch.randn(1, 3, 64, 64)
    with pytest.raises(ValueError, match="not the classifier applied"):
        with torch.no_grad():
            CAMExtractor(net, target_layer=net.layer4[0], classifier=net.fc).forward_with_maps(x)
    with pytest.raises(ValueError, match="expects 512 channels"):
        with torch.no_grad():
            CAMExtractor(net, target_layer=net.layer3, classifier=net.fc).forward_with_maps(x)
    with pytest.raises(ValueError, match="not a submodule"):
        CAMExtractor(net, target_layer="layer9", classifier="fc")
    with pytest.raises(ValueError, match="Linear or a 1x1"):
        linear_weights(nn.Conv2d(4, 3, 3))
    w, b = linear_weights(nn.Sequential(nn.Dropout(), nn.Conv2d(4, 3, 1)))
    assert w.shape == (3, 4) and b.shape == (3,)
