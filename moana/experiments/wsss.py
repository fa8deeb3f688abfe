"""WSSS results of a pipeline work directory (:mod:`moana.wsss.pipeline`) as tables and example
label maps for the figures (IRN, Ahn et al. CVPR 2019; VOC 2012 classes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from moana.io import read_json as _read_json


def wsss_per_class(cfg: Any, methods: list[str]) -> pd.DataFrame:
    """Long table (method, stage, class, iou in %) of CAM (best threshold) and pseudo-mask IoUs."""
    from moana.data.voc import VOC_CLASSES
    from moana.wsss.pipeline import run_dirs

    names = ["background", *VOC_CLASSES]
    rows = []
    for method in methods:
        root = run_dirs(cfg, method)["root"]
        cam_json = root / "eval_cam.json"
        if cam_json.is_file():
            ious = _read_json(cam_json).get("iou_per_class_at_best_pct", [])  # percent
            rows += [{"method": method, "stage": "CAM", "class": names[k], "iou": float(v)}
                     for k, v in enumerate(ious) if v is not None and not np.isnan(float(v))]
        seg_csv = root / "sem_seg_iou.csv"
        if seg_csv.is_file():
            seg = pd.read_csv(seg_csv).dropna(subset=["iou_pct"])
            rows += [{"method": method, "stage": "pseudo mask", "class": str(c), "iou": float(v)}
                     for c, v in zip(seg["class"], seg["iou_pct"])]
    return pd.DataFrame(rows, columns=["method", "stage", "class", "iou"])


def wsss_examples(cfg: Any, methods: list[str], image_ids: list[str]
                  ) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """Images and label maps (ground truth, each method's CAM at its default threshold and its
    pseudo mask) of a few images, for :func:`moana.viz.figures.plot_mask_grid`."""
    from moana.data.voc import LABEL_DIR, load_label_map
    from moana.wsss._io import load_image_rgb, load_png, voc_image_path
    from moana.wsss.eval_cam import cam_to_label
    from moana.wsss.make_cam import load_cam
    from moana.wsss.pipeline import prepare_data, run_dirs

    data = prepare_data(cfg)
    images = [load_image_rgb(voc_image_path(data.root, i)) for i in image_ids]
    masks: dict[str, list[np.ndarray]] = {
        "ground truth": [load_label_map(data.root / LABEL_DIR / f"{i}.png") for i in image_ids]}
    for method in methods:
        dirs = run_dirs(cfg, method)
        best = _read_json(dirs["root"] / "eval_cam.json").get("default_threshold", 0.15)
        cams = []
        for i, gt in zip(image_ids, masks["ground truth"]):
            cam = load_cam(dirs["cams"], i)
            high = cam["high_res"] if len(cam["keys"]) else np.zeros((0, *gt.shape), np.float32)
            cams.append(cam_to_label(high, cam["keys"], best))
        masks[f"{method} CAM"] = cams
        masks[f"{method} pseudo mask"] = [load_png(dirs["sem_seg"] / f"{i}.png") for i in image_ids]
    return images, masks
