"""Step 5a — the boundary branch of the inter-pixel relation network (IRN, Ahn et al. CVPR 2019).

A backbone (ResNet-50 with strides 2,2,2,1 as IRN, ResNet-18, or a small CPU net) feeds five
1x1-conv + GroupNorm heads whose outputs, upsampled to stride 4 and concatenated, give a
class-agnostic boundary map B. The affinity of two pixels within ``radius`` is
``1 - max B`` along the segment joining them; it is trained on pairs labelled by the IR labels
(positive: same class, split into background and foreground; negative: different classes;
pairs touching 255 ignored). The displacement branch of IRN is omitted: semantic pseudo-masks
need only the boundaries.

:class:`PathIndex` is a compact version of IRN's: the directions ``(dy, dx)`` with
``dy^2 + dx^2 < radius^2`` in one half-plane, each with the pixel offsets of its path.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from moana.engine.loop import LoopSettings, StepOutput
from moana.engine.runtime import place_model, seed_everything, worker_init
from moana.models.weights import read_state_dict, torchvision_weights_file
from moana.wsss._io import (load_image_rgb, load_png, pil_rescale, random_crop_box,
                            voc_image_path)
from moana.wsss.config import IRNConfig
from moana.wsss.ir_label import ir_label_path
from moana.wsss.loop import save_result, train_with_loop
from moana.wsss.make_cam import normalize_image

log = logging.getLogger(__name__)
IGNORE = 255
NUM_SEG_CLASSES = 21


# -- pixel pairs and their paths -----------------------------------------------------------
@dataclass(frozen=True)
class PathIndex:
    """Pairs ``(p, p + d)`` for every direction ``d`` and the offsets on the path between them."""

    radius: int
    directions: Tensor  # (D, 2) int64: (dy, dx)
    offsets: Tensor  # (U, 2) int64: unique path offsets
    table: Tensor  # (D, L) int64: rows index ``offsets``; short paths repeat their end


def _irn_path(dy: int, dx: int) -> list[tuple[int, int]]:
    """IRN's search path to the neighbour at ``(dy, dx)``: every grid point of the bounding box
    of the segment (0,0)-(dy,dx) whose perpendicular distance to the segment's line is below 1,
    farthest first (Ahn et al. 2019, jiwoon-ahn/irn ``misc/indexing.py``, PathIndex)."""
    length_sq = dy * dy + dx * dx
    points = [(y, x) for y in range(min(0, dy), max(0, dy) + 1)
              for x in range(min(0, dx), max(0, dx) + 1)
              if (dy * x - dx * y) ** 2 / length_sq < 1]
    return sorted(points, key=lambda p: -abs(p[0]) - abs(p[1]))


def make_path_index(radius: int) -> PathIndex:
    """Directions within ``radius`` (exclusive, as IRN), half-plane dy > 0 or (dy = 0, dx > 0),
    each with IRN's path (:func:`_irn_path`: the grid points within distance 1 of the segment).

    Raises ValueError for ``radius < 2``."""
    if radius < 2:
        raise ValueError(f"radius must be >= 2, got {radius}")
    directions = [(dy, dx) for dy in range(radius) for dx in range(-radius + 1, radius)
                  if (dy > 0 or dx > 0) and dy * dy + dx * dx < radius * radius]
    offsets: dict[tuple[int, int], int] = {}
    paths = []
    for dy, dx in directions:
        paths.append([offsets.setdefault(p, len(offsets)) for p in _irn_path(dy, dx)])
    length = max(len(p) for p in paths)
    table = [p + [p[0]] * (length - len(p)) for p in paths]
    return PathIndex(radius, torch.tensor(directions, dtype=torch.long),
                     torch.tensor(list(offsets), dtype=torch.long),
                     torch.tensor(table, dtype=torch.long))


def source_mask(height: int, width: int, radius: int, device: Any = None) -> Tensor:
    """(H, W) bool: the source pixels of IRN's cropped index space, which leaves out the
    ``radius - 1`` bottom rows and left and right columns (IRN trains its affinities only on
    pairs whose source lies inside; jiwoon-ahn/irn ``PathIndex.get_path_indices``)."""
    floor = radius - 1
    mask = torch.zeros(height, width, dtype=torch.bool, device=device)
    mask[:max(0, height - floor), floor:max(floor, width - floor)] = True
    return mask


def _shifted(x: Tensor, offsets: Tensor, radius: int, pad_value: float) -> Tensor:
    """(B, H, W) -> (B, U, H, W), ``out[:, u, y, x] = x[:, y + oy_u, x + ox_u]`` (pad outside)."""
    height, width = x.shape[-2:]
    padded = F.pad(x, (radius, radius, 0, radius), value=pad_value)
    return torch.stack([padded[:, oy:oy + height, radius + ox:radius + ox + width]
                        for oy, ox in offsets.tolist()], dim=1)


def pair_affinity(edge: Tensor, index: PathIndex) -> Tensor:
    """Boundary map (B, 1, H, W) or (B, H, W) in [0,1] -> affinities (B, D, H, W).

    ``aff[b, d, y, x] = 1 - max(edge on the path from (y, x) to (y, x) + d)``; pairs leaving the
    image get 0.
    """
    edge = edge.squeeze(1) if edge.dim() == 4 else edge
    shifts = _shifted(edge, index.offsets, index.radius, 1.0)
    table = index.table.to(edge.device)
    path_max = shifts[:, table[:, 0]]
    for column in range(1, table.shape[1]):
        path_max = torch.maximum(path_max, shifts[:, table[:, column]])
    return 1 - path_max


def pair_labels(label: Tensor, index: PathIndex, *, border_sources: bool = False
                ) -> tuple[Tensor, Tensor, Tensor]:
    """IR labels (B, H, W) -> float masks (bg_pos, fg_pos, neg), each (B, D, H, W).

    IRN's GetAffinityLabelFromIndices: valid pairs have both labels < 21, and (as IRN's cropped
    index space) only sources in :func:`source_mask` count; ``border_sources=True`` also counts
    sources within the radius of the left, right and bottom borders (a departure from IRN).
    """
    dirs = index.directions.tolist()
    source = label.unsqueeze(1)
    end_offsets = torch.tensor(dirs, dtype=torch.long)
    target = _shifted(label.float(), end_offsets, index.radius, float(IGNORE)).long()
    valid = (source < NUM_SEG_CLASSES) & (target < NUM_SEG_CLASSES)
    if not border_sources:
        valid = valid & source_mask(*label.shape[-2:], index.radius, label.device)
    equal = source == target
    pos = equal & valid
    return ((pos & (source == 0)).float(), (pos & (source > 0)).float(),
            (~equal & valid).float())


def affinity_loss(edge: Tensor, label: Tensor, index: PathIndex) -> tuple[Tensor, dict[str, float]]:
    """IRN's balanced affinity loss: (bg_pos/2 + fg_pos/2 + neg) / 2, each a masked mean."""
    aff = pair_affinity(edge, index)
    bg_pos, fg_pos, neg = pair_labels(label, index)
    pos_loss = -torch.log(aff + 1e-5)
    neg_loss = -torch.log(1.0 + 1e-5 - aff)
    bg = (bg_pos * pos_loss).sum() / (bg_pos.sum() + 1e-5)
    fg = (fg_pos * pos_loss).sum() / (fg_pos.sum() + 1e-5)
    ng = (neg * neg_loss).sum() / (neg.sum() + 1e-5)
    loss = (bg / 2 + fg / 2 + ng) / 2
    parts = {"bg_pos": float(bg.detach()), "fg_pos": float(fg.detach()),
             "neg": float(ng.detach())}
    return loss, parts


# -- network -------------------------------------------------------------------------------
def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def _backbone(name: str, pretrained: str | None) -> tuple[nn.ModuleList, list[int]]:
    """Five stages (strides 4, 4, 8, 16, 16) and their channel counts."""
    if name == "small":
        if pretrained:
            raise ValueError("irn.backbone=small has no pretrained weights")
        stages = nn.ModuleList([
            nn.Sequential(_conv_bn(3, 16, 2), _conv_bn(16, 16, 2)),
            _conv_bn(16, 32, 1), _conv_bn(32, 64, 2), _conv_bn(64, 64, 2), _conv_bn(64, 128, 1)])
        return stages, [16, 32, 64, 64, 128]
    if name not in ("resnet50", "resnet18"):
        raise ValueError(f"unknown IRN backbone {name!r}; choose resnet50, resnet18 or small")
    net = getattr(torchvision.models, name)(weights=None)
    if pretrained:
        # a local file, or a torchvision weights name found in the local hub cache (never a
        # download: torchvision_weights_file raises a clear error when the file is absent)
        path = Path(pretrained) if Path(pretrained).is_file() else torchvision_weights_file(
            name, pretrained)
        missing, _ = net.load_state_dict(read_state_dict(path), strict=False)
        if [k for k in missing if not k.startswith("fc.")]:
            raise ValueError(f"{path}: not a torchvision {name} state_dict "
                             f"(missing {missing[:3]})")
    block = net.layer4[0]  # IRN: strides (2, 2, 2, 1) -> layer4 at stride 16, no dilation
    (block.conv2 if name == "resnet50" else block.conv1).stride = (1, 1)
    if block.downsample is not None:
        block.downsample[0].stride = (1, 1)
    stages = nn.ModuleList([nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool),
                            net.layer1, net.layer2, net.layer3, net.layer4])
    wide = name == "resnet50"
    return stages, [64, 256, 512, 1024, 2048] if wide else [64, 64, 128, 256, 512]


class EdgeNet(nn.Module):
    """IRN's boundary branch: ``forward(x) -> boundary logits (B, 1, ceil(H/4), ceil(W/4))``."""

    def __init__(self, backbone: str = "resnet50", *, pretrained: str | None = None,
                 freeze_backbone: bool = True) -> None:
        super().__init__()
        self.backbone_name = backbone
        self.freeze_backbone = freeze_backbone
        self.stages, channels = _backbone(backbone, pretrained)
        # conv + GroupNorm; forward upsamples, then applies the ReLU, then crops (IRN's order)
        self.heads = nn.ModuleList([
            nn.Sequential(nn.Conv2d(c, 32, 1, bias=False), nn.GroupNorm(4, 32))
            for c in channels])
        self.classifier = nn.Conv2d(32 * len(channels), 1, 1, bias=True)
        if freeze_backbone:
            for p in self.stages.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> EdgeNet:
        """``nn.Module.train``; a frozen backbone stays in eval mode (IRN keeps its BatchNorm
        statistics, jiwoon-ahn/irn ``net/resnet50_irn.py``)."""
        super().train(mode)
        if self.freeze_backbone:
            self.stages.eval()  # IRN: the frozen backbone keeps its BatchNorm statistics
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Boundary logits (B, 1, ceil(H/4), ceil(W/4)) of images (B, 3, H, W): each edge head is
        upsampled, then ReLU, then cropped to the stride-4 size, as IRN's edge branch
        (jiwoon-ahn/irn ``net/resnet50_irn.py``)."""
        features = []
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
            for stage in self.stages:
                x = stage(x)
                features.append(x)
        height, width = features[0].shape[-2:]
        maps = []
        for head, f, factor in zip(self.heads, features, (1, 1, 2, 4, 4)):  # stage strides / 4
            y = head(f.detach() if self.freeze_backbone else f)
            if factor > 1:  # IRN: nn.Upsample(scale_factor) -> ReLU -> crop to stride 4
                y = F.interpolate(y, scale_factor=factor, mode="bilinear", align_corners=False)
            maps.append(F.relu(y)[..., :height, :width])
        return self.classifier(torch.cat(maps, dim=1))

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters the boundary step trains (the edge heads; the backbone too unless
        frozen)."""
        return [p for p in self.parameters() if p.requires_grad]


@torch.no_grad()
def edge_map(model: EdgeNet, image: np.ndarray, device: torch.device | str = "cpu", *,
             pad_size: int | None = 512) -> Tensor:
    """Boundary probabilities (ceil(H/4), ceil(W/4)) of an RGB image, averaged with its flip.

    As IRN's ``EdgeDisplacement`` (jiwoon-ahn/irn ``net/resnet50_irn.py``), the normalized image
    is zero-padded at the right and bottom to ``pad_size`` x ``pad_size`` (IRN: its crop size
    512) before the network and the output cropped to the image's stride-4 size; the flipped
    copy is padded the same way. An image larger than ``pad_size`` is padded to its own size
    (IRN would crop it). ``pad_size=None`` skips the padding (a departure from IRN)."""
    model.eval()
    x = normalize_image(image)
    height, width = image.shape[:2]
    size = ((height - 1) // 4 + 1, (width - 1) // 4 + 1)
    batch = torch.stack([x, x.flip(-1)])
    if pad_size:
        batch = F.pad(batch, (0, max(0, pad_size - width), 0, max(0, pad_size - height)))
    out = model(batch.to(device)).float().cpu()[..., :size[0], :size[1]]
    edge = torch.sigmoid(out[0, 0] / 2 + out[1, 0].flip(-1) / 2)
    if tuple(edge.shape) != size:
        edge = F.interpolate(edge[None, None], size, mode="bilinear", align_corners=False)[0, 0]
    return edge


# -- data ----------------------------------------------------------------------------------
class IRLabelDataset(Dataset):
    """(image, stride-4 IR label) pairs with IRN's augmentation (jiwoon-ahn/irn
    ``VOC12AffinityDataset``): random rescale by a factor in ``rescale`` (image PIL bicubic,
    label PIL nearest), normalize, random flip, random ``crop_size`` crop (padding 0 / 255),
    then the label downsampled by 4 with PIL nearest (it keeps pixel 4i+2 of a 4-aligned
    crop). Items: ``(image (3, crop, crop), label (crop/4, crop/4) long, id)``."""

    def __init__(self, voc_root: Path, image_ids: Sequence[str], label_dir: Path, *,
                 crop_size: int = 512, rescale: tuple[float, float] = (0.5, 1.5)) -> None:
        if crop_size % 4:
            raise ValueError(f"irn.crop_size must be a multiple of 4, got {crop_size}")
        self.voc_root, self.ids, self.label_dir = Path(voc_root), list(image_ids), Path(label_dir)
        self.crop_size, self.rescale = crop_size, tuple(rescale)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, str]:
        image_id = self.ids[index]
        image = load_image_rgb(voc_image_path(self.voc_root, image_id))
        label = load_png(ir_label_path(self.label_dir, image_id))
        if label.shape != image.shape[:2]:
            raise ValueError(f"{ir_label_path(self.label_dir, image_id)}: size {label.shape} "
                             f"!= image {image.shape[:2]}")
        low, high = self.rescale
        scale = low + random.random() * (high - low)
        image, label = pil_rescale(image, scale, 3), pil_rescale(label, scale, 0)
        x = normalize_image(np.ascontiguousarray(image)).permute(1, 2, 0).numpy()
        if random.getrandbits(1):
            x, label = x[:, ::-1], label[:, ::-1]
        crop = self.crop_size
        box = random_crop_box(label.shape, crop, random)
        out_x = np.zeros((crop, crop, 3), np.float32)
        out_y = np.full((crop, crop), IGNORE, np.uint8)
        out_x[box[0]:box[1], box[2]:box[3]] = x[box[4]:box[5], box[6]:box[7]]
        out_y[box[0]:box[1], box[2]:box[3]] = label[box[4]:box[5], box[6]:box[7]]
        small = pil_rescale(out_y, 0.25, 0)
        return (torch.from_numpy(out_x).permute(2, 0, 1).contiguous(),
                torch.from_numpy(small.astype(np.int64)), image_id)


# -- training ------------------------------------------------------------------------------
class IRNStep:
    """The per-batch loss of :func:`train_irn`: :func:`affinity_loss` of the boundary map
    (sigmoid of the logits) against the pair labels of the stride-4 IR labels."""

    def __init__(self, index: PathIndex) -> None:
        self.index = index

    def __call__(self, model: nn.Module, batch: Any, settings: LoopSettings) -> StepOutput:
        images, labels = settings.images(batch[0]), settings.to_device(batch[1])
        logits = model(images).float()
        if labels.shape[-2:] != logits.shape[-2:]:
            raise ValueError(f"IRN output {tuple(logits.shape[-2:])} != label "
                             f"{tuple(labels.shape[-2:])} (crop_size must be a multiple of 4)")
        loss, _ = affinity_loss(torch.sigmoid(logits), labels, self.index)
        return StepOutput(loss, int(labels.shape[0]))


def train_irn(cfg: IRNConfig, *, voc_root: Path, train_ids: Sequence[str], ir_label_dir: Path,
              out_path: Path, seed: int = 0, device: torch.device | str = "cpu",
              amp: str = "none", channels_last: bool = False,
              overwrite: bool = False) -> dict[str, Any]:
    """Train the boundary branch on IR labels; save it atomically to ``out_path``.

    SGD with IRN's poly schedule per iteration through :func:`moana.wsss.loop.train_with_loop`
    (AMP, channels-last, NaN/inf checks; resumes from ``<out_path>.partial/last.pt`` unless
    ``overwrite``). Returns the loss history (mean per epoch), wall time, image count and the
    epochs restored (``resumed_from``). Raises ValueError when the list is empty."""
    if not train_ids:
        raise ValueError("train_irn: the training list is empty")
    device = torch.device(device)
    seed_everything(seed)
    if cfg.freeze_backbone and not cfg.pretrained:
        log.warning("IRN backbone %s is frozen but randomly initialised: set irn.pretrained "
                    "or irn.freeze_backbone=false", cfg.backbone)
    model = place_model(EdgeNet(cfg.backbone, pretrained=cfg.pretrained,
                                freeze_backbone=cfg.freeze_backbone), device, channels_last)
    dataset = IRLabelDataset(voc_root, train_ids, ir_label_dir, crop_size=cfg.crop_size,
                             rescale=tuple(cfg.rescale))
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True,
                        num_workers=cfg.num_workers, drop_last=len(dataset) >= cfg.batch_size,
                        generator=generator, worker_init_fn=worker_init)
    optimizer = torch.optim.SGD(model.trainable_parameters(), lr=cfg.lr,
                                weight_decay=cfg.weight_decay, momentum=cfg.momentum)
    start = time.perf_counter()
    loop = train_with_loop(model, loader, optimizer, IRNStep(make_path_index(cfg.radius)),
                           LoopSettings(device, amp=amp, channels_last=channels_last),
                           epochs=cfg.epochs, iterations=len(loader) * cfg.epochs, seed=seed,
                           generator=generator, out_path=out_path, overwrite=overwrite,
                           name="train_irn")
    history = [row["train_loss"] for row in loop.history]
    model.eval()
    save_result(out_path, {"state_dict": model.state_dict(), "backbone": cfg.backbone,
                           "freeze_backbone": cfg.freeze_backbone, "radius": cfg.radius,
                           "loss_history": history})
    return {"loss_history": history, "seconds": time.perf_counter() - start,
            "num_images": len(dataset), "resumed_from": loop.start_epoch}


def load_irn(path: Path, device: torch.device | str = "cpu") -> EdgeNet:
    """An :class:`EdgeNet` saved by :func:`train_irn`, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IRN checkpoint {path} is missing (run the train_irn step)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = EdgeNet(ckpt["backbone"], freeze_backbone=bool(ckpt["freeze_backbone"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()
