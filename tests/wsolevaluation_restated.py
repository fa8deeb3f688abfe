"""A small, direct re-statement of wsolevaluation's networks (clovaai/wsolevaluation,
``wsol/vgg.py``, ``wsol/resnet.py``, ``wsol/inception.py``, ``wsol/method/*.py``), in eval mode,
with its module names, so that its state_dicts have its keys and shapes.  Test oracle only.

ADL layers are identity at evaluation and have no parameters, so they are ``nn.Identity`` here
(they still occupy their index in the ``nn.Sequential``).  Dropout is identity at evaluation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.inception import BasicConv2d, InceptionA, InceptionC


def _norm(x):  # normalize_tensor
    flat = x.view(x.size(0), x.size(1), -1)
    lo, hi = flat.min(-1, keepdim=True)[0], flat.max(-1, keepdim=True)[0]
    return ((flat - lo) / (hi - lo)).view(x.size())


def _acol_head(cin, k):
    return nn.Sequential(nn.Conv2d(cin, 1024, 3, 1, padding=1), nn.ReLU(), nn.Conv2d(1024, 1024, 3, 1, padding=1),
                         nn.ReLU(), nn.Conv2d(1024, k, 1, 1, padding=0))


class _Acol(nn.Module):
    """ACoL forward shared by the three backbones (``feature`` -> dict / CAMs)."""

    def acol(self, feature, labels, return_cam, threshold=0.7):
        fa = self.classifier_A(feature)
        logits = fa.mean((2, 3))
        lab = logits.argmax(1) if labels is None else labels
        att = _norm(fa.detach()[range(fa.size(0)), lab].unsqueeze(1))
        mask = torch.ones_like(att)
        mask[att >= threshold] = 0
        fb = self.classifier_B(feature * mask)
        if return_cam:
            return torch.max(_norm(fa), _norm(fb))[range(fa.size(0)), labels]
        return logits


def _cam_from_fc(fc, feature, labels):
    w = fc.weight[labels]
    return (w.view(*feature.shape[:2], 1, 1) * feature).mean(1)


# ------------------------------------------------------------------------------- VGG16
_VGG = {
    "cam": {False: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
            True: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, 512, 512, 512]},
    "acol": {False: [64, 64, "M1", 128, 128, "M1", 256, 256, 256, "M1", 512, 512, 512, "M1", 512, 512, 512, "M2"],
             True: [64, 64, "M1", 128, 128, "M1", 256, 256, 256, "M1", 512, 512, 512, "M2", 512, 512, 512, "M2"]},
    "spg": {False: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"],
            True: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"]},
    "adl": {False: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", "A", 512, 512, 512, "A", "M", 512, 512, 512, "A"],
            True: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", "A", 512, 512, 512, "A", 512, 512, 512, "A"]},
}


def _vgg_layers(cfg):
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        elif v == "M1":
            layers.append(nn.MaxPool2d(3, 2, 1))
        elif v == "M2":
            layers.append(nn.MaxPool2d(3, 1, 1))
        elif v == "A":
            layers.append(nn.Identity())
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers)


def _convs(cin, cout, n):
    layers = []
    for i in range(n):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _spg_side(b1, b2, width, c_in):
    return (nn.Sequential(nn.Conv2d(b1, width, 3, padding=1), nn.ReLU(True)),
            nn.Sequential(nn.Conv2d(b2, width, 3, padding=1), nn.ReLU(True)),
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(True), nn.Conv2d(width, 1, 1)),
            nn.Sequential(nn.Conv2d(c_in, 512, 3, padding=1), nn.ReLU(True), nn.Conv2d(512, 1, 1)))


class WsolVGG(_Acol):
    def __init__(self, layout, k, large):
        super().__init__()
        self.layout, self.large = layout, large
        self.features = _vgg_layers(_VGG[layout][large])
        if layout in ("cam", "adl"):
            self.conv6 = nn.Conv2d(512, 1024, 3, padding=1)
            self.fc = nn.Linear(1024, k)
        elif layout == "acol":
            self.classifier_A, self.classifier_B = _acol_head(512, k), _acol_head(512, k)
        else:
            self.SPG_A_1, self.SPG_A_2 = _convs(256, 512, 3), _convs(512, 512, 3)
            self.SPG_A_3 = _convs(512, 512, 2)
            self.SPG_A_4 = nn.Conv2d(512, k, 1)
            self.SPG_B_1a, self.SPG_B_2a, self.SPG_B_shared, self.SPG_C = _spg_side(512, 512, 512, 512)

    def forward(self, x, labels=None, return_cam=False):
        x = self.features(x)
        if self.layout in ("cam", "adl"):
            x = F.relu(self.conv6(x))
            return _cam_from_fc(self.fc, x, labels) if return_cam else self.fc(x.mean((2, 3)))
        if self.layout == "acol":
            return self.acol(F.avg_pool2d(x, 3, 1, 1), labels, return_cam)
        x = self.SPG_A_1(x)
        if not self.large:
            x = F.max_pool2d(x, 3, 2, 1)
        x = self.SPG_A_3(self.SPG_A_2(x))
        fmap = self.SPG_A_4(x)
        return fmap[range(x.size(0)), labels] if return_cam else fmap.mean((2, 3))


# ------------------------------------------------------------------------------- ResNet-50
class WsolResNet(_Acol):
    def __init__(self, layout, k, large):
        super().__init__()
        tv = torchvision.models.resnet50(weights=None)
        self.layout = layout
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2"):
            setattr(self, name, getattr(tv, name))
        for stage, stride in ((tv.layer3, 1 if large else 2), (tv.layer4, 1)):
            stage[0].conv2.stride = stage[0].downsample[0].stride = (stride, stride)
        l3, l4 = list(tv.layer3), list(tv.layer4)
        if layout == "adl":
            l3 = [l3[0], nn.Identity(), *l3[1:]]
            l4 = [l4[0], nn.Identity(), l4[1], l4[2], nn.Identity()]
        if layout == "spg":
            self.SPG_A1, self.SPG_A2 = nn.Sequential(l3[0]), nn.Sequential(*l3[1:])
            self.SPG_A4 = nn.Conv2d(2048, k, 1)
            self.SPG_B_1a, self.SPG_B_2a, self.SPG_B_shared, self.SPG_C = _spg_side(1024, 1024, 1024, 2048)
        else:
            self.layer3 = nn.Sequential(*l3)
        self.layer4 = nn.Sequential(*l4)
        if layout == "acol":
            self.classifier_A, self.classifier_B = _acol_head(2048, k), _acol_head(2048, k)
        elif layout != "spg":
            self.fc = nn.Linear(2048, k)

    def forward(self, x, labels=None, return_cam=False):
        x = self.layer2(self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x))))))
        if self.layout == "spg":
            fmap = self.SPG_A4(self.layer4(self.SPG_A2(self.SPG_A1(x))))
            return fmap[range(x.size(0)), labels] if return_cam else fmap.mean((2, 3))
        x = self.layer4(self.layer3(x))
        if self.layout == "acol":
            return self.acol(x, labels, return_cam)
        return _cam_from_fc(self.fc, x, labels) if return_cam else self.fc(x.mean((2, 3)))


# ------------------------------------------------------------------------------- Inception-v3
class _InceptionB1(nn.Module):
    """wsolevaluation's InceptionB(288, kernel_size=3, stride=1, padding=1)."""

    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, kernel_size=3, stride=1, padding=1)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=1, padding=1)

    def forward(self, x):
        d = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), d, F.max_pool2d(x, 3, 1, 1)], 1)


class WsolInception(_Acol):
    def __init__(self, layout, k, large):
        super().__init__()
        self.layout, self.large = layout, large
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2, padding=1)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b, self.Mixed_5c = InceptionA(192, pool_features=32), InceptionA(256, pool_features=64)
        self.Mixed_5d, self.Mixed_6a = InceptionA(288, pool_features=64), _InceptionB1(288)
        self.Mixed_6b, self.Mixed_6c = InceptionC(768, channels_7x7=128), InceptionC(768, channels_7x7=160)
        self.Mixed_6d, self.Mixed_6e = InceptionC(768, channels_7x7=160), InceptionC(768, channels_7x7=192)
        if layout == "acol":
            self.classifier_A, self.classifier_B = _acol_head(768, k), _acol_head(768, k)
            return
        self.SPG_A3_1b = nn.Sequential(nn.Conv2d(768, 1024, 3, padding=1), nn.ReLU(True))
        self.SPG_A3_2b = nn.Sequential(nn.Conv2d(1024, 1024, 3, padding=1), nn.ReLU(True))
        self.SPG_A4 = nn.Conv2d(1024, k, 1, padding=0)
        if layout == "spg":
            self.SPG_B_1a, self.SPG_B_2a, self.SPG_B_shared, self.SPG_C = _spg_side(288, 768, 512, 1024)

    def forward(self, x, labels=None, return_cam=False):
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1, ceil_mode=True)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1, ceil_mode=True)
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        if not self.large:
            x = F.max_pool2d(x, kernel_size=3, stride=2, ceil_mode=True)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(self.Mixed_6a(x)))))
        if self.layout == "acol":
            return self.acol(x, labels, return_cam)
        fmap = self.SPG_A4(self.SPG_A3_2b(self.SPG_A3_1b(x)))
        return fmap[range(x.size(0)), labels] if return_cam else fmap.mean((2, 3))


def wsol_model(arch: str, layout: str, num_classes: int, large: bool) -> nn.Module:
    cls = {"vgg16": WsolVGG, "resnet50": WsolResNet, "inception_v3": WsolInception}[arch]
    return cls(layout, num_classes, large)


def randomize(model: nn.Module, seed: int = 0) -> dict:
    """Random weights and BatchNorm statistics (so that the comparison is not trivial)."""
    g = torch.Generator().manual_seed(seed)
    state = model.state_dict()
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        if key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=g) + 0.5
        else:
            fan = value[0].numel() if value.dim() > 1 else 1
            state[key] = torch.randn(value.shape, generator=g) / fan**0.5
    model.load_state_dict(state)
    return model.state_dict()
