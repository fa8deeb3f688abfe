"""Step 7b — val mIoU of the segmentation network trained on pseudo-masks.

Single-scale: the whole image through the network, logits bilinearly resized to the image,
argmax. Multi-scale + flip (the usual DeepLab test protocol, Chen et al. 2017): the image at
each scale of ``scales`` (PIL bicubic) and its mirror; softmax probabilities resized to the
image and summed; argmax. Both are scored with one 21-class confusion matrix over the split
(255 ignored; :class:`moana.metrics.segmentation.SegmentationConfusion`). The multi-scale
predictions are saved as VOC palette PNGs for the qualitative grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from moana.data.voc import LABEL_DIR, load_label_map, voc_palette
from moana.metrics.segmentation import SegmentationConfusion
from moana.wsss._io import load_image_rgb, pil_rescale, save_png, voc_image_path
from moana.wsss.eval_sem_seg import SEG_CLASS_NAMES
from moana.wsss.make_cam import normalize_image


@torch.no_grad()
def predict_probs(model: nn.Module, image: np.ndarray, scales: Sequence[float] = (1.0,), *,
                  flip: bool = False, device: torch.device | str = "cpu") -> torch.Tensor:
    """Summed softmax probabilities (21, H, W) of ``image`` (HxWx3 uint8) over ``scales``
    (and their mirrors when ``flip``), each resized bilinearly to the image size."""
    model.eval()
    height, width = image.shape[:2]
    total = None
    for scale in scales:
        x = normalize_image(pil_rescale(image, scale, 3))
        batch = torch.stack([x, x.flip(-1)]) if flip else x[None]
        logits = model(batch.to(device))["out"].float()
        logits = F.interpolate(logits, (height, width), mode="bilinear", align_corners=False)
        probs = logits.softmax(dim=1).cpu()
        probs = probs[0] + probs[1].flip(-1) if flip else probs[0]
        total = probs if total is None else total + probs
    return total


def eval_seg(model: nn.Module, *, voc_root: Path, image_ids: Sequence[str], out_dir: Path,
             scales: Sequence[float] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75),
             device: torch.device | str = "cpu") -> dict[str, Any]:
    """Score ``image_ids`` single-scale and multi-scale + flip; write the multi-scale
    predictions to ``out_dir/<id>.png``.

    Returns ``{"miou_pct", "miou_msf_pct", "iou": DataFrame(class, iou_pct, iou_msf_pct)}``
    (percent; NaN for a class absent from prediction and ground truth). Raises ValueError
    for an empty list or a prediction/label size mismatch."""
    if not image_ids:
        raise ValueError("eval_seg: the validation list is empty")
    single = SegmentationConfusion(len(SEG_CLASS_NAMES), ignore_index=255)
    multi = SegmentationConfusion(len(SEG_CLASS_NAMES), ignore_index=255)
    palette = voc_palette()
    for image_id in tqdm(image_ids, desc="eval_seg", leave=False):
        image = load_image_rgb(voc_image_path(voc_root, image_id))
        gt = load_label_map(Path(voc_root) / LABEL_DIR / f"{image_id}.png")
        if gt.shape != image.shape[:2]:
            raise ValueError(f"{Path(voc_root) / LABEL_DIR / image_id}.png: size {gt.shape} != "
                             f"image {image.shape[:2]}")
        single.update(predict_probs(model, image, (1.0,), device=device).argmax(0).numpy(), gt)
        pred = predict_probs(model, image, scales, flip=True, device=device).argmax(0).numpy()
        multi.update(pred, gt)
        save_png(Path(out_dir) / f"{image_id}.png", pred.astype(np.uint8), palette=palette)
    iou = pd.DataFrame({"class": SEG_CLASS_NAMES, "iou_pct": 100 * single.iou_per_class(),
                        "iou_msf_pct": 100 * multi.iou_per_class()})
    return {"miou_pct": 100 * single.miou(), "miou_msf_pct": 100 * multi.miou(), "iou": iou}
