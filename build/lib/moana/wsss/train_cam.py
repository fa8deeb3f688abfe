"""Step 1 — train the CAM network on image-level labels (IRN ``train_cam``; MoANA WSSS setting).

ResNet-50 at output stride 16 with MoANA after layer4 (WSSS calibration x*(0.35+0.65*M)) or
vanilla CAM, a 1x1-conv classifier over the 20 VOC classes, multi-label soft-margin loss,
SGD with IRN's poly schedule, new layers at 10x the learning rate, weight decay 1e-4
(Ahn et al., CVPR 2019; Sohn et al., Sci. Rep. 2023).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from torchvision import transforms as T

from moana.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from moana.data.voc import VOCClassification
from moana.models import build_model
from moana.wsss._io import poly_lambda, torch_save
from moana.wsss.config import CamConfig

log = logging.getLogger(__name__)
NUM_CLASSES = 20


def irn_cls_transform(crop_size: int = 512, resize_long: tuple[int, int] = (320, 640)) -> T.Compose:
    """IRN's CAM training augmentation: random long-side resize, flip, normalize, random crop
    (zero-padded). No colour jitter: IRN has none, and colour is class evidence (synthetic
    marks)."""
    low, high = resize_long

    def resize(image):
        long = int(torch.randint(low, high + 1, ()).item())
        scale = long / max(image.size)
        return T.functional.resize(image, [max(1, round(image.size[1] * scale)),
                                           max(1, round(image.size[0] * scale))])

    return T.Compose([T.Lambda(resize), T.RandomHorizontalFlip(), T.ToTensor(),
                      T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
                      T.RandomCrop(crop_size, pad_if_needed=True)])


def build_cam_model(cfg: CamConfig, method: str, attention_kw: Mapping[str, Any] | None,
                    *, pretrained: str | None = None) -> nn.Module:
    """The CAM network of ``method`` ("cam" or an attention name such as "moana")."""
    kwargs: dict[str, Any] = {"num_classes": NUM_CLASSES, "pretrained": pretrained}
    if method != "cam" and attention_kw:
        kwargs["attention_kw"] = dict(attention_kw)
    if cfg.arch.startswith("resnet"):
        kwargs["output_stride"] = cfg.output_stride
    return build_model(cfg.arch, method=method, **kwargs)


def freeze_backbone_bn(model: nn.Module) -> None:
    """Put the backbone's BatchNorm layers in eval mode (IRN's FixedBatchNorm); new layers
    (attention, classifier) keep training statistics."""
    new = model.new_parameter_names() if hasattr(model, "new_parameter_names") else set()
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and f"{name}.weight" not in new:
            module.eval()
            for p in module.parameters():
                p.requires_grad_(False)


def train_cam(cfg: CamConfig, *, voc_root: Path, train_ids: Sequence[str],
              cls_labels: Mapping[str, np.ndarray], method: str,
              attention_kw: Mapping[str, Any] | None, out_path: Path, seed: int = 0,
              device: torch.device | str = "cpu") -> dict[str, Any]:
    """Train and save ``{"state_dict", "arch", "method", ...}`` atomically to ``out_path``.

    Returns the loss history and wall time.
    """
    if not train_ids:
        raise ValueError("train_cam: the training list is empty")
    device = torch.device(device)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = build_cam_model(cfg, method, attention_kw, pretrained=cfg.pretrained).to(device)
    dataset = VOCClassification(voc_root, train_ids, cls_labels,
                                transform=irn_cls_transform(cfg.crop_size, tuple(cfg.resize_long)))
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True,
                        num_workers=cfg.num_workers, drop_last=len(dataset) >= cfg.batch_size,
                        generator=torch.Generator().manual_seed(seed))
    max_step = max(1, len(loader) * cfg.epochs)
    groups = model.param_groups(cfg.lr * cfg.classifier_lr_mult, cfg.lr)
    optimizer = torch.optim.SGD(groups, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                momentum=cfg.momentum)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, poly_lambda(max_step))
    history: list[float] = []
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        if cfg.freeze_bn:
            freeze_backbone_bn(model)
        losses = []
        for images, labels, _ in tqdm(loader, desc=f"train_cam[{method}] {epoch + 1}/{cfg.epochs}",
                                      leave=False):
            logits = model(images.to(device))
            loss = F.multilabel_soft_margin_loss(logits, labels.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        history.append(float(np.mean(losses)) if losses else float("nan"))
        log.info("train_cam[%s] epoch %d loss %.4f", method, epoch + 1, history[-1])
    model.eval()
    torch_save(Path(out_path), {
        "state_dict": model.state_dict(), "arch": cfg.arch, "method": method,
        "attention_kw": dict(attention_kw or {}), "output_stride": cfg.output_stride,
        "num_classes": NUM_CLASSES, "loss_history": history,
    })
    return {"loss_history": history, "seconds": time.perf_counter() - start,
            "num_images": len(dataset)}


def load_cam_model(path: Path, cfg: CamConfig, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild a model saved by :func:`train_cam`, in eval mode (BatchNorm on running stats)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CAM checkpoint {path} is missing (run the train_cam step)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("arch") != cfg.arch:
        raise ValueError(f"{path}: checkpoint arch {ckpt.get('arch')!r} != config arch "
                         f"{cfg.arch!r}")
    stride = ckpt.get("output_stride", cfg.output_stride)
    arch_cfg = CamConfig(**{**cfg.__dict__, "output_stride": stride})
    model = build_cam_model(arch_cfg, ckpt["method"], ckpt.get("attention_kw") or None)
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()
