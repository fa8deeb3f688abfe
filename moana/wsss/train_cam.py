"""Step 1 — train the CAM network on image-level labels (IRN ``train_cam``; MoANA WSSS setting).

ResNet-50 at output stride 16 with MoANA after layer4 (WSSS calibration x*(0.35+0.65*M)) or
vanilla CAM, a 1x1-conv classifier over the 20 VOC classes, multi-label soft-margin loss,
SGD with IRN's poly schedule, new layers at 10x the learning rate, weight decay 1e-4
(Ahn et al., CVPR 2019; Sohn et al., Sci. Rep. 2023).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms as T

from moana.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from moana.data.voc import VOCClassification
from moana.engine.loop import LoopSettings, StepOutput
from moana.engine.runtime import place_model, seed_everything, worker_init
from moana.models import build_model
from moana.wsss.config import CamConfig
from moana.wsss.loop import save_result, train_with_loop

NUM_CLASSES = 20


def irn_cls_transform(crop_size: int = 512, resize_long: tuple[int, int] = (320, 640)) -> T.Compose:
    """IRN's CAM training augmentation (jiwoon-ahn/irn ``imutils.random_resize_long``): random
    long-side resize with PIL bicubic (size rounded half to even), flip, normalize, random crop
    (zero-padded). No colour jitter: IRN has none, and colour is class evidence (synthetic
    marks)."""
    low, high = resize_long

    def resize(image):
        long = int(torch.randint(low, high + 1, ()).item())
        scale = long / max(image.size)
        size = [max(1, int(np.round(image.size[1] * scale))),
                max(1, int(np.round(image.size[0] * scale)))]
        return T.functional.resize(image, size, interpolation=T.InterpolationMode.BICUBIC)

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
    """Backbone BatchNorm layers use their running statistics (eval mode) while their affine
    parameters stay trainable (IRN's FixedBatchNorm); new layers (attention, classifier) keep
    training statistics."""
    new = model.new_parameter_names() if hasattr(model, "new_parameter_names") else set()
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and f"{name}.weight" not in new:
            module.eval()


_RESNET_STAGES = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")


def freeze_early_stages(model: nn.Module, train_from: str) -> None:
    """No gradient (and eval-mode BatchNorm) for the ResNet stages before ``train_from``: IRN's
    CAM network detaches its features after layer2, so conv1..layer2 never train
    (``train_from="layer3"``); ``"conv1"`` trains everything. Raises ValueError for an unknown
    stage or a model without these stages."""
    if train_from not in _RESNET_STAGES:
        raise ValueError(f"cam.train_from must be one of {list(_RESNET_STAGES)}, "
                         f"got {train_from!r}")
    frozen = _RESNET_STAGES[:_RESNET_STAGES.index(train_from)]
    for name in frozen:
        module = getattr(model, name, None)
        if module is None:
            raise ValueError(f"cam.train_from={train_from!r} needs a ResNet backbone (no {name!r} "
                             f"in {type(model).__name__}); set cam.train_from=conv1")
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)


class CamStep:
    """The per-batch loss of :func:`train_cam`: multi-label soft-margin loss of the image-level
    labels. At the first batch of every epoch (after the loop's ``model.train()``) it re-applies
    :func:`freeze_early_stages` and, with ``cfg.freeze_bn``, :func:`freeze_backbone_bn`."""

    def __init__(self, cfg: CamConfig) -> None:
        self.cfg = cfg
        self._epoch_start = True

    def set_epoch(self, epoch: int) -> None:
        """Re-apply the frozen stages and fixed BatchNorm at the next batch (the loop sets
        train mode at each epoch)."""
        self._epoch_start = True

    def __call__(self, model: nn.Module, batch: Any, settings: LoopSettings) -> StepOutput:
        if self._epoch_start:
            freeze_early_stages(model, self.cfg.train_from)
            if self.cfg.freeze_bn:
                freeze_backbone_bn(model)
            self._epoch_start = False
        images, labels = settings.images(batch[0]), settings.to_device(batch[1])
        logits = model(images)
        loss = F.multilabel_soft_margin_loss(logits.float(), labels)
        return StepOutput(loss, int(labels.shape[0]))


def train_cam(cfg: CamConfig, *, voc_root: Path, train_ids: Sequence[str],
              cls_labels: Mapping[str, np.ndarray], method: str,
              attention_kw: Mapping[str, Any] | None, out_path: Path, seed: int = 0,
              device: torch.device | str = "cpu", amp: str = "none",
              channels_last: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Train and save ``{"state_dict", "arch", "method", ...}`` atomically to ``out_path``.

    Trains through :func:`moana.wsss.loop.train_with_loop` (IRN's poly schedule per iteration,
    AMP ``"none"``/``"bf16"``, channels-last, NaN/inf checks); an interrupted run resumes from
    ``<out_path>.partial/last.pt`` unless ``overwrite``. Returns the loss history (mean per
    epoch), wall time, image count and the epochs restored (``resumed_from``). Raises ValueError
    when the list is empty, :class:`moana.engine.loop.DivergedError` on a NaN/inf loss.
    """
    if not train_ids:
        raise ValueError("train_cam: the training list is empty")
    device = torch.device(device)
    seed_everything(seed)
    model = build_cam_model(cfg, method, attention_kw, pretrained=cfg.pretrained)
    model = place_model(model, device, channels_last)
    dataset = VOCClassification(voc_root, train_ids, cls_labels,
                                transform=irn_cls_transform(cfg.crop_size, tuple(cfg.resize_long)))
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True,
                        num_workers=cfg.num_workers, drop_last=len(dataset) >= cfg.batch_size,
                        generator=generator, worker_init_fn=worker_init)
    groups = model.param_groups(cfg.lr * cfg.classifier_lr_mult, cfg.lr)
    optimizer = torch.optim.SGD(groups, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                momentum=cfg.momentum)
    start = time.perf_counter()
    loop = train_with_loop(model, loader, optimizer, CamStep(cfg),
                           LoopSettings(device, amp=amp, channels_last=channels_last),
                           epochs=cfg.epochs, iterations=len(loader) * cfg.epochs, seed=seed,
                           generator=generator, out_path=out_path, overwrite=overwrite,
                           name=f"train_cam[{method}]")
    history = [row["train_loss"] for row in loop.history]
    model.eval()
    save_result(out_path, {
        "state_dict": model.state_dict(), "arch": cfg.arch, "method": method,
        "attention_kw": dict(attention_kw or {}), "output_stride": cfg.output_stride,
        "num_classes": NUM_CLASSES, "loss_history": history,
    })
    return {"loss_history": history, "seconds": time.perf_counter() - start,
            "num_images": len(dataset), "resumed_from": loop.start_epoch}


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
