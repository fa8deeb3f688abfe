"""Step 7a — a fully supervised segmentation network trained on the pseudo-masks.

WSSS papers report the val mIoU of a segmentation network trained on their pseudo-masks of
``train_aug`` (IRN feeds DeepLab; Ahn et al., CVPR 2019, Sec. 5). Here: torchvision's DeepLabV3
(Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation", 2017) with a
ResNet-50/101 backbone (torchvision's output stride 8), or a small CPU backbone with the same
ASPP head for smoke runs. ImageNet weights come only from a local file (``seg.pretrained``:
a torchvision ResNet state_dict path, or a torchvision weights name already in the local hub
cache); nothing is downloaded, and unavailable weights are a clear error.

Training follows the usual DeepLab recipe: random rescale (PIL bicubic / nearest), flip,
random crop (image padded with 0, mask with 255 = ignored), pixel cross entropy ignoring 255,
SGD with momentum and the poly schedule over a fixed number of iterations, trained through the
shared epoch loop in epochs of ``checkpoint_every`` iterations: a resumable checkpoint is
written after each, and an interrupted run resumes from it.
"""

from __future__ import annotations

import logging
import random
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3

from moana.engine.loop import LoopSettings, StepOutput
from moana.engine.runtime import place_model, seed_everything, worker_init
from moana.models.weights import read_state_dict, torchvision_weights_file
from moana.wsss._io import (load_image_rgb, load_png, pil_rescale, random_crop_box,
                            voc_image_path)
from moana.wsss.config import SegConfig
from moana.wsss.loop import save_result, train_with_loop
from moana.wsss.make_cam import normalize_image

log = logging.getLogger(__name__)
IGNORE = 255
NUM_SEG_CLASSES = 21
BACKBONES = ("resnet50", "resnet101", "small")


class _SmallBackbone(nn.Module):
    """Four conv-BN-ReLU stages, stride 8 (like torchvision's DeepLabV3), 128 channels."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int, dilation: int = 1) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, dilation, dilation, bias=False),
                                 nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        self.body = nn.Sequential(block(3, width, 2), block(width, width, 2),
                                  block(width, 2 * width, 2), block(2 * width, 4 * width, 1, 2))
        self.channels = 4 * width

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return OrderedDict(out=self.body(x))


def _load_backbone_weights(backbone: nn.Module, arch: str, pretrained: str) -> None:
    path = Path(pretrained).expanduser()
    if not path.is_file():
        if arch == "resnet101" or any(c in str(pretrained) for c in "/\\."):
            raise FileNotFoundError(f"seg.pretrained: weights file {path} not found (ImageNet "
                                    f"weights are read from a local file, never downloaded)")
        path = torchvision_weights_file(arch, str(pretrained))  # local hub cache or an error
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith("fc.")}
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: not a torchvision {arch} state_dict (missing "
                         f"{list(missing)[:3]}, unexpected {list(unexpected)[:3]})")


def build_seg_model(backbone: str = "resnet101", *, pretrained: str | None = None,
                    num_classes: int = NUM_SEG_CLASSES) -> nn.Module:
    """DeepLabV3 (torchvision) on ``backbone``; ``forward(x)["out"]`` is (B, classes, H, W).

    Raises ValueError for an unknown backbone or weights for ``small``, FileNotFoundError /
    ValueError when ``pretrained`` is not an available local file (never downloads)."""
    if backbone not in BACKBONES:
        raise ValueError(f"seg.backbone must be one of {list(BACKBONES)}, got {backbone!r}")
    if backbone == "small":
        if pretrained:
            raise ValueError("seg.backbone=small has no pretrained weights")
        body = _SmallBackbone()
        return DeepLabV3(body, DeepLabHead(body.channels, num_classes))
    builder = getattr(torchvision.models.segmentation, f"deeplabv3_{backbone}")
    model = builder(weights=None, weights_backbone=None, num_classes=num_classes,
                    aux_loss=False)
    if pretrained:
        _load_backbone_weights(model.backbone, backbone, pretrained)
    return model


class PseudoMaskDataset(Dataset):
    """(image, mask) crops for DeepLab training: random rescale by a factor in ``scale_range``
    (image PIL bicubic, mask PIL nearest), flip, normalize, random ``crop_size`` crop (image
    padded with 0, mask with 255). Items ``(image (3, crop, crop), mask (crop, crop) long)``."""

    def __init__(self, voc_root: Path, image_ids: Sequence[str], mask_dir: Path, *,
                 crop_size: int = 513, scale_range: tuple[float, float] = (0.5, 2.0)) -> None:
        self.voc_root, self.ids, self.mask_dir = Path(voc_root), list(image_ids), Path(mask_dir)
        self.crop_size, self.scale_range = crop_size, tuple(scale_range)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image_id = self.ids[index]
        image = load_image_rgb(voc_image_path(self.voc_root, image_id))
        mask = load_png(self.mask_dir / f"{image_id}.png")
        if mask.shape != image.shape[:2]:
            raise ValueError(f"{self.mask_dir / image_id}.png: size {mask.shape} != image "
                             f"{image.shape[:2]}")
        low, high = self.scale_range
        scale = low + random.random() * (high - low)
        image, mask = pil_rescale(image, scale, 3), pil_rescale(mask, scale, 0)
        x = normalize_image(image).permute(1, 2, 0).numpy()
        if random.getrandbits(1):
            x, mask = x[:, ::-1], mask[:, ::-1]
        crop = self.crop_size
        box = random_crop_box(mask.shape, crop, random)
        out_x = np.zeros((crop, crop, 3), np.float32)
        out_y = np.full((crop, crop), IGNORE, np.int64)
        out_x[box[0]:box[1], box[2]:box[3]] = x[box[4]:box[5], box[6]:box[7]]
        out_y[box[0]:box[1], box[2]:box[3]] = mask[box[4]:box[5], box[6]:box[7]]
        return torch.from_numpy(out_x).permute(2, 0, 1).contiguous(), torch.from_numpy(out_y)


class IterationChunks:
    """``iterations`` batches of ``loader`` (passes repeated as needed) cut into epochs of
    ``chunk`` batches, the last one possibly shorter; every epoch starts a fresh pass, so that
    an epoch's batches depend only on the loop's per-epoch seeds (exact resume)."""

    def __init__(self, loader: DataLoader, iterations: int, chunk: int) -> None:
        self.loader, self.iterations, self.chunk = loader, iterations, max(1, chunk)
        self.epochs = -(-iterations // self.chunk)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Serve the ``epoch``-th chunk of ``checkpoint_every`` iterations next."""
        self.epoch = epoch

    def __len__(self) -> int:
        return max(0, min(self.chunk, self.iterations - self.epoch * self.chunk))

    def __iter__(self) -> Iterator[Any]:
        left = len(self)
        while left > 0:
            for batch in self.loader:
                yield batch
                left -= 1
                if left == 0:
                    return


class SegStep:
    """The per-batch loss of :func:`train_seg`: pixel cross entropy ignoring 255. It tells
    ``chunks`` which epoch runs (the loop calls ``set_epoch`` before each epoch)."""

    def __init__(self, chunks: IterationChunks) -> None:
        self.chunks = chunks

    def set_epoch(self, epoch: int) -> None:
        """Pass the loop's epoch to the iteration chunks."""
        self.chunks.set_epoch(epoch)

    def __call__(self, model: nn.Module, batch: Any, settings: LoopSettings) -> StepOutput:
        images, masks = settings.images(batch[0]), settings.to_device(batch[1])
        out = model(images)["out"]
        loss = F.cross_entropy(out.float(), masks, ignore_index=IGNORE)
        return StepOutput(loss, int(masks.shape[0]))


def _seg_optimizer(model: nn.Module, cfg: SegConfig) -> torch.optim.Optimizer:
    backbone = [p for n, p in model.named_parameters() if n.startswith("backbone.")]
    head = [p for n, p in model.named_parameters() if not n.startswith("backbone.")]
    return torch.optim.SGD([{"params": backbone, "lr": cfg.lr},
                            {"params": head, "lr": cfg.lr * cfg.head_lr_mult}],
                           lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def train_seg(cfg: SegConfig, *, voc_root: Path, train_ids: Sequence[str], mask_dir: Path,
              out_path: Path, seed: int = 0, device: torch.device | str = "cpu",
              overwrite: bool = False, amp: str = "none",
              channels_last: bool = False) -> dict[str, Any]:
    """Train DeepLabV3 on the pseudo-masks in ``mask_dir``; save ``{"state_dict", "backbone"}``
    atomically to ``out_path``.

    ``cfg.iterations`` SGD steps with the poly schedule per iteration, through
    :func:`moana.wsss.loop.train_with_loop` in epochs of ``cfg.checkpoint_every`` iterations
    (:class:`IterationChunks`); ``<out_path>.partial/last.pt`` is written after each, and an
    interrupted run resumes from it unless ``overwrite`` (``checkpoint_every=0``: one epoch,
    no checkpoint). Returns ``{"loss_history" (mean per epoch of ``checkpoint_every``
    iterations), "iterations", "resumed_from" (iterations restored), "seconds",
    "num_images"}``. Raises ValueError when the list is empty or smaller than a batch."""
    if len(train_ids) < max(2, cfg.batch_size):
        raise ValueError(f"train_seg: {len(train_ids)} training image(s) for a batch of "
                         f"{cfg.batch_size} (DeepLab's BatchNorm needs batches of at least 2)")
    device = torch.device(device)
    seed_everything(seed)
    if cfg.backbone != "small" and not cfg.pretrained:
        log.warning("train_seg: %s backbone without ImageNet weights (seg.pretrained): its "
                    "val mIoU is not comparable to published numbers", cfg.backbone)
    model = place_model(build_seg_model(cfg.backbone, pretrained=cfg.pretrained), device,
                        channels_last)
    dataset = PseudoMaskDataset(voc_root, train_ids, mask_dir, crop_size=cfg.crop_size,
                                scale_range=tuple(cfg.scale_range))
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                        num_workers=cfg.num_workers, generator=generator,
                        worker_init_fn=worker_init)
    chunks = IterationChunks(loader, cfg.iterations, cfg.checkpoint_every or cfg.iterations)
    began = time.perf_counter()
    loop = train_with_loop(model, chunks, _seg_optimizer(model, cfg), SegStep(chunks),
                           LoopSettings(device, amp=amp, channels_last=channels_last),
                           epochs=chunks.epochs, iterations=cfg.iterations, seed=seed,
                           generator=generator, out_path=out_path, overwrite=overwrite,
                           checkpoints=bool(cfg.checkpoint_every), name="train_seg")
    model.eval()
    save_result(out_path, {"state_dict": model.state_dict(), "backbone": cfg.backbone})
    return {"loss_history": [row["train_loss"] for row in loop.history],
            "iterations": cfg.iterations, "resumed_from": loop.start_epoch * chunks.chunk,
            "seconds": time.perf_counter() - began, "num_images": len(dataset)}


def load_seg_model(path: Path, device: torch.device | str = "cpu") -> nn.Module:
    """A model saved by :func:`train_seg`, in eval mode (FileNotFoundError when missing)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"segmentation checkpoint {path} is missing (run train_seg)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = build_seg_model(ckpt["backbone"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()
