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


def walk_gain_table(summaries: dict[int, pd.DataFrame], methods: list[str]
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Paired before/after of the random walk over seeds (IRN, Ahn et al. CVPR 2019).

    ``summaries``: seed -> :func:`moana.wsss.pipeline.load_summary` table (percent) of a run
    with that seed. Returns (per-seed table: seed, method, ``cam_miou_pct`` at the default
    threshold, ``pseudo_mask_miou_pct``, ``walk_gain_pct`` = pseudo-mask - CAM; summary table
    per method: n_seeds, means, the mean paired gain and its 95% t interval, all in percent).
    Raises ValueError when a seed lacks a method or a number (NaN)."""
    from moana.experiments.statistics import paired_difference

    rows = []
    for seed, table in sorted(summaries.items()):
        by = table.set_index("method")
        for method in methods:
            if method not in by.index:
                raise ValueError(f"seed {seed}: no results for method {method!r}")
            cam, pm = float(by.at[method, "cam_miou_pct"]), float(by.at[method, "pseudo_mask_miou_pct"])
            rows.append({"seed": seed, "method": method, "cam_miou_pct": cam,
                         "pseudo_mask_miou_pct": pm, "walk_gain_pct": pm - cam})
    per_seed = pd.DataFrame(rows)
    summary = []
    for method, group in per_seed.groupby("method", sort=False):
        diff = paired_difference(group["pseudo_mask_miou_pct"], group["cam_miou_pct"])
        summary.append({"method": method, "n_seeds": int(diff.n),
                        "cam_miou_mean_pct": float(group["cam_miou_pct"].mean()),
                        "pseudo_mask_miou_mean_pct": float(group["pseudo_mask_miou_pct"].mean()),
                        "walk_gain_mean_pct": diff.mean, "walk_gain_ci_low_pct": diff.low,
                        "walk_gain_ci_high_pct": diff.high})
    return per_seed, pd.DataFrame(summary)


def ir_label_composition(voc_root: Any, ir_label_dir: Any, image_ids: list[str]) -> dict[str, float]:
    """How the IR labels (IRN ``cam_to_ir_label``: 0 confident background, k + 1 confident class
    k, 255 uncertain) split the ground truth, in percent of the pixels of each GT part:
    ``fg_as_fg`` (the right class), ``fg_as_bg``, ``fg_uncertain``, ``fg_wrong_class``,
    ``bg_as_bg``, ``bg_uncertain``, ``bg_as_fg``; GT border pixels (255) are left out.
    Confident background on objects (``fg_as_bg``) teaches the boundary network that object
    edges are not boundaries. Raises FileNotFoundError for a missing label PNG."""
    from pathlib import Path

    from moana.data.voc import LABEL_DIR, load_label_map
    from moana.wsss._io import load_png

    counts = np.zeros(7, np.int64)
    for image_id in image_ids:
        gt = load_label_map(Path(voc_root) / LABEL_DIR / f"{image_id}.png")
        ir = load_png(Path(ir_label_dir) / f"{image_id}.png")
        fg, bg = (gt > 0) & (gt < 255), gt == 0
        sure_fg = (ir > 0) & (ir < 255)
        counts += [(fg & (ir == gt)).sum(), (fg & (ir == 0)).sum(), (fg & (ir == 255)).sum(),
                   (fg & sure_fg & (ir != gt)).sum(), (bg & (ir == 0)).sum(),
                   (bg & (ir == 255)).sum(), (bg & sure_fg).sum()]
    fg_total, bg_total = max(int(counts[:4].sum()), 1), max(int(counts[4:].sum()), 1)
    names = ["fg_as_fg", "fg_as_bg", "fg_uncertain", "fg_wrong_class", "bg_as_bg",
             "bg_uncertain", "bg_as_fg"]
    return {name: 100.0 * float(c) / (fg_total if k < 4 else bg_total)
            for k, (name, c) in enumerate(zip(names, counts))}


def wsss_command(config: str, method: str, *, seed: int, device: str,
                 voc_root: str = "work/data/synthetic_voc") -> str:
    """The ``moana wsss run`` command that runs one method's pipeline alone on stage 00's VOC
    data under ``work/wsss`` (results/README.md's one-cell command)."""
    return (f"moana wsss run --config {config} --methods {method} --work-dir work/wsss "
            f"data.synthetic=null data.voc_root={voc_root} runtime.seed={seed} "
            f"runtime.device={device}")
