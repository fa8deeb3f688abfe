"""Step 6 — evaluate the pseudo-masks (IRN ``eval_sem_seg``) and show them.

mIoU over 21 classes (255 ignored) from one confusion matrix over the split, the per-class
IoU and the confusion matrix as pandas tables, and a qualitative grid (image, ground truth,
CAM segmentation and pseudo-mask of each method) for notebook 04_wsss_pseudo_masks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from moana.data.voc import LABEL_DIR, VOC_CLASSES, load_label_map, voc_palette
from moana.metrics.segmentation import SegmentationConfusion
from moana.wsss._io import load_image_rgb, load_png, voc_image_path
from moana.wsss.eval_cam import cam_to_label
from moana.wsss.make_cam import cam_path, load_cam
from moana.wsss.sem_seg import sem_seg_path

SEG_CLASS_NAMES = ("background", *VOC_CLASSES)


def confusion_of(pred_dir: Path, *, voc_root: Path, image_ids: Sequence[str]
                 ) -> SegmentationConfusion:
    """One 21-class confusion over ``image_ids`` of the PNG masks in ``pred_dir``."""
    if not image_ids:
        raise ValueError("eval_sem_seg: the evaluation list is empty")
    confusion = SegmentationConfusion(num_classes=len(SEG_CLASS_NAMES), ignore_index=255)
    for image_id in tqdm(image_ids, desc="eval_sem_seg", leave=False):
        pred = load_png(sem_seg_path(pred_dir, image_id))
        gt = load_label_map(Path(voc_root) / LABEL_DIR / f"{image_id}.png")
        if pred.shape != gt.shape:
            raise ValueError(f"{sem_seg_path(pred_dir, image_id)}: size {pred.shape} != "
                             f"ground truth {gt.shape}")
        confusion.update(pred, gt)
    return confusion


def eval_sem_seg(pred_dir: Path, *, voc_root: Path, image_ids: Sequence[str]) -> dict[str, Any]:
    """``{"miou", "iou_per_class": DataFrame(class, iou), "confusion": DataFrame 21x21}``
    (confusion rows: ground truth, columns: prediction, as IRN)."""
    confusion = confusion_of(pred_dir, voc_root=voc_root, image_ids=image_ids)
    iou = np.asarray(confusion.iou_per_class(), dtype=float)
    matrix = np.asarray(confusion.matrix)
    return {
        "miou": float(confusion.miou()),
        "iou_per_class": pd.DataFrame({"class": SEG_CLASS_NAMES, "iou": iou}),
        "confusion": pd.DataFrame(matrix, index=pd.Index(SEG_CLASS_NAMES, name="gt"),
                                  columns=pd.Index(SEG_CLASS_NAMES, name="pred")),
    }


def colorize(label: np.ndarray) -> np.ndarray:
    """A VOC label map (255 = ignore) as an RGB uint8 image in the VOC palette."""
    palette = np.asarray(voc_palette(), dtype=np.uint8).reshape(256, 3)
    return palette[np.asarray(label, dtype=np.uint8)]


def pseudo_mask_panels(voc_root: Path, image_id: str, method_dirs: Mapping[str, Path],
                       cam_threshold: Mapping[str, float] | float = 0.15
                       ) -> dict[str, np.ndarray]:
    """RGB panels of one image: image, ground truth, per method CAM segmentation and pseudo-mask.

    ``method_dirs`` maps a method name to its run folder (holding ``cams/`` and ``sem_seg/``).
    """
    panels = {"image": load_image_rgb(voc_image_path(voc_root, image_id)),
              "ground truth": colorize(
                  load_label_map(Path(voc_root) / LABEL_DIR / f"{image_id}.png"))}
    for method, run_dir in method_dirs.items():
        run_dir = Path(run_dir)
        threshold = (cam_threshold.get(method, 0.15) if isinstance(cam_threshold, Mapping)
                     else cam_threshold)
        if cam_path(run_dir / "cams", image_id).is_file():
            cam = load_cam(run_dir / "cams", image_id)
            high = (cam["high_res"] if len(cam["keys"])
                    else np.zeros((0, *panels["image"].shape[:2])))
            panels[f"{method} CAM"] = colorize(cam_to_label(high, cam["keys"], threshold))
        if sem_seg_path(run_dir / "sem_seg", image_id).is_file():
            mask = load_png(sem_seg_path(run_dir / "sem_seg", image_id))
            panels[f"{method} pseudo-mask"] = colorize(mask)
    return panels


def plot_pseudo_mask_grid(voc_root: Path, image_ids: Sequence[str],
                          method_dirs: Mapping[str, Path],
                          cam_threshold: Mapping[str, float] | float = 0.15, *,
                          panel_size: float = 2.0):
    """A matplotlib figure: one row per image, columns from :func:`pseudo_mask_panels`."""
    import matplotlib.pyplot as plt

    rows = [pseudo_mask_panels(voc_root, i, method_dirs, cam_threshold) for i in image_ids]
    if not rows:
        raise ValueError("plot_pseudo_mask_grid: no images given")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    fig, axes = plt.subplots(len(rows), len(columns), squeeze=False,
                             figsize=(panel_size * len(columns), panel_size * len(rows)))
    for r, (image_id, row) in enumerate(zip(image_ids, rows)):
        for c, name in enumerate(columns):
            ax = axes[r, c]
            ax.set_axis_off()
            if name in row:
                ax.imshow(row[name], interpolation="nearest")
            if r == 0:
                ax.set_title(name, fontsize=9)
        axes[r, 0].text(-0.05, 0.5, image_id, transform=axes[r, 0].transAxes, rotation=90,
                        va="center", ha="right", fontsize=7)
    fig.tight_layout()
    return fig


def plot_cam_threshold_curves(curves: Mapping[str, pd.DataFrame], *, ax=None,
                              mark: Mapping[str, float] | None = None):
    """mIoU vs background threshold per method (``eval_cam_curve.csv`` tables), with the
    default thresholds of ``mark`` (e.g. {"cam": 0.15, "moana": 0.16}) as dots."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    for method, curve in curves.items():
        line, = ax.plot(curve["threshold"], 100 * curve["miou"], label=method)
        if mark and method in mark:
            at = curve.iloc[int(np.argmin(np.abs(curve["threshold"] - mark[method])))]
            ax.plot(at["threshold"], 100 * at["miou"], "o", color=line.get_color())
    ax.set_xlabel("background threshold")
    ax.set_ylabel("CAM mIoU (%)")
    ax.legend()
    return ax
