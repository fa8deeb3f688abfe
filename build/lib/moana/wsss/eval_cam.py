"""Step 3 — CAM mIoU with the background threshold swept (IRN ``eval_cam``).

Each pixel takes the class of its highest CAM, or background where every CAM is below the
threshold; one 21-class confusion matrix (255 ignored) is accumulated over the split, as IRN
does with chainercv, for every threshold (moana.metrics.segmentation.ThresholdSweep).
IRN's default threshold is 0.15, MoANA's 0.16.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from moana.data.voc import LABEL_DIR, load_label_map
from moana.metrics.segmentation import ThresholdSweep, cams_to_segmentation, iou_from_confusion
from moana.wsss.make_cam import load_cam

NUM_SEG_CLASSES = 21


def cam_to_label(cams: np.ndarray, keys: np.ndarray, threshold: float) -> np.ndarray:
    """(n,H,W) CAMs of classes ``keys`` (0-based) -> HxW uint8 VOC labels (0 = background);
    moana.metrics' IRN conversion."""
    return cams_to_segmentation(cams, keys, threshold).astype(np.uint8)


def threshold_grid(start: float, stop: float, step: float) -> np.ndarray:
    """Thresholds ``start..stop`` (inclusive) rounded to the step's decimals."""
    if step <= 0 or stop < start:
        raise ValueError(f"bad threshold sweep start={start} stop={stop} step={step}")
    decimals = max(0, -int(np.floor(np.log10(step))) + 1)
    return np.round(np.arange(start, stop + step / 2, step), decimals)


def eval_cams(cam_dir: Path, *, voc_root: Path, image_ids: Sequence[str],
              thresholds: Sequence[float], default_threshold: float = 0.15) -> dict[str, Any]:
    """Sweep ``thresholds``; returns ``{"curve": DataFrame(threshold, miou), "best_threshold",
    "best_miou", "default_threshold", "miou_at_default", "iou_per_class_at_best"}``."""
    thresholds = np.unique(np.round(np.asarray([*thresholds, default_threshold], dtype=float), 6))
    if not image_ids:
        raise ValueError("eval_cam: the evaluation list is empty")
    sweep = ThresholdSweep(thresholds, num_classes=NUM_SEG_CLASSES, ignore_index=255)
    for image_id in tqdm(image_ids, desc="eval_cam", leave=False):
        cam = load_cam(cam_dir, image_id)
        gt = load_label_map(Path(voc_root) / LABEL_DIR / f"{image_id}.png")
        high = cam["high_res"] if len(cam["keys"]) else np.zeros((0, *gt.shape), np.float32)
        if high.shape[1:] != gt.shape:
            raise ValueError(f"{Path(cam_dir) / image_id}.npy: high_res {high.shape[1:]} does "
                             f"not match the label map {gt.shape}")
        sweep.update(high, cam["keys"], gt)
    mious = sweep.miou()
    best = int(np.nanargmax(mious))
    default_index = int(np.flatnonzero(np.isclose(thresholds, default_threshold))[0])
    best_iou = iou_from_confusion(sweep.confusions()[best])
    return {
        "curve": pd.DataFrame({"threshold": thresholds, "miou": mious}),
        "best_threshold": float(thresholds[best]), "best_miou": float(mious[best]),
        "default_threshold": float(default_threshold),
        "miou_at_default": float(mious[default_index]),
        "iou_per_class_at_best": best_iou.tolist(),
    }
