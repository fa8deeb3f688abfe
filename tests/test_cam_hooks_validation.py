"""CAMExtractor.cams validates labels like CAMNet.cams; the linear-head check scales with dtype."""

import pytest
import torch
from torch import nn

from moana.cam.hooks import CAMExtractor


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(64, 5))


def test_one_label_is_not_broadcast_over_a_batch():
    net = _net()
    extractor = CAMExtractor(net, "1", "4")
    with pytest.raises(ValueError, match="1 labels for a batch of 3"):
        extractor.cams(torch.rand(3, 3, 8, 8), torch.tensor([2]))


@pytest.mark.parametrize("bad", [[-1, 0], [0, 5]])
def test_out_of_range_labels_are_refused(bad):
    extractor = CAMExtractor(_net(), "1", "4")
    with pytest.raises(ValueError, match=r"labels must be in \[0, 5\)"):
        extractor.cams(torch.rand(2, 3, 8, 8), bad)


def test_bf16_autocast_accepts_a_linear_head():
    net = _net()
    with torch.no_grad():
        net[0].weight.mul_(20)  # logits of order 10: bf16 rounding exceeds the old fixed 1e-3
    extractor = CAMExtractor(net, "1", "4")
    images = torch.rand(4, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cams = extractor.cams(images, [0, 1, 2, 3])
    assert cams.shape == (4, 16, 16)


def test_bf16_autocast_still_refuses_a_nonlinear_head():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(64, 5), nn.Tanh())
    net[4].weight.data.mul_(30)
    extractor = CAMExtractor(net, "1", "4")
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(ValueError, match="not the classifier"):
        extractor.cams(torch.rand(2, 3, 16, 16), [0, 1])
