"""Localization evaluation of a CAM network on one split, as wsolevaluation does it.

For every image the CAM of its ground-truth class is resized to the evaluation resolution
(bicubic) and normalized to [0, 1] (``eval.cam_normalization``: wsolevaluation's min-max, or the
official MoANA code's variant), then scored with MaxBoxAcc / MaxBoxAccV2 (boxes) and PxAP / PIoU
(masks) (Choe et al., "Evaluating WSOL Methods Right", CVPR 2020). Top-1 / top-5 / GT-known
localization use one CAM threshold chosen on the val split (``best_threshold@50``), since the
test split may only be used for the final report.

``evaluate_run`` recomputes a finished run's metrics from its checkpoint and can write the
score maps as ``.npy`` files (wsolevaluation's heatmap contract) for external evaluators.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from moana.train.checkpoint import load_checkpoint, load_model_weights, unwrap
from moana.train.config import EvalConfig, TrainConfig, load_config
from moana.train.distributed import DistInfo, all_gather_objects, broadcast_object
from moana.train.records import CHECKPOINT_DIR, CONFIG_FILE, FINAL_JSON, read_json, write_json

#: Keys of the val metrics that carry the thresholds used on test.
THRESHOLD_KEYS = ("box_threshold",)


def is_quiet(quiet: bool | None, config_quiet: bool = False) -> bool:
    """Progress bars off when asked, in the config, or under CI (env ``CI=true``)."""
    if quiet is not None:
        return quiet
    return config_quiet or os.environ.get("CI", "").lower() in ("1", "true", "yes")


def autocast_context(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    if amp == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _batches(model: nn.Module, loader: DataLoader, device: torch.device, amp: str,
             channels_last: bool, progress: tqdm | None
             ) -> Iterator[tuple[list[str], np.ndarray, np.ndarray, np.ndarray]]:
    """(ids, labels, top-k predictions, GT-class CAMs as float64 (B, h, w)) per batch."""
    net = unwrap(model)
    for images, labels, image_ids in loader:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        labels = torch.as_tensor(labels, device=device)
        with autocast_context(device, amp):
            logits, maps = net.forward_with_maps(images)
        k = min(5, logits.shape[1])
        topk = logits.float().topk(k, dim=1).indices
        cams = maps.float()[torch.arange(maps.shape[0], device=device), labels]
        if progress is not None:
            progress.update(len(image_ids))
        yield (list(image_ids), labels.cpu().numpy(), topk.cpu().numpy(),
               cams.cpu().numpy().astype(np.float64))


def scoremaps_from_cams(cams: np.ndarray, image_size: int, normalization: str) -> list[np.ndarray]:
    """Resize each CAM to ``image_size`` (bicubic, float64) and normalize it to [0, 1]."""
    from moana.cam import scoremap_from_cam

    return [scoremap_from_cam(cam, normalization, (image_size, image_size), nan_policy="warn")
            for cam in cams]


def _mask_evaluator(metadata: Any, mask_root: Path, eval_cfg: EvalConfig, image_size: int):
    from moana.metrics.masks import MaskEvaluator

    return MaskEvaluator(metadata, mask_root, step=eval_cfg.cam_step, image_size=image_size)


def evaluate_localization(model: nn.Module, dataset: Dataset, *, device: torch.device,
                          eval_cfg: EvalConfig, image_size: int, batch_size: int,
                          num_workers: int = 0, mask_root: Path | None = None,
                          dist_info: DistInfo = DistInfo(), amp: str = "none",
                          channels_last: bool = False, thresholds: dict[str, float] | None = None,
                          save_cams: Path | None = None, quiet: bool = True,
                          desc: str = "eval") -> dict[str, Any]:
    """Classification and localization metrics of ``model`` on ``dataset`` (a WSOLDataset).

    Work is split over the ranks of ``dist_info``; rank 0 gathers the score maps, scores them
    and broadcasts the metrics, so every rank returns the same dict. ``thresholds`` (from the
    val split: ``box_threshold``) fixes the CAM threshold of top-1/top-5/GT-known loc; without
    it this split's own best threshold at IoU 50 is used. MaxBoxAcc, PxAP and PIoU are
    threshold-free (best over the threshold list), as in wsolevaluation.
    """
    from moana.metrics.boxes import BoxEvaluator, topk_localization

    metadata = dataset.metadata
    has_boxes = bool(metadata.boxes)
    has_masks = bool(metadata.masks) and mask_root is not None
    main = dist_info.is_main
    box_eval = mask_eval = None
    if main and has_boxes:
        box_eval = BoxEvaluator(metadata, step=eval_cfg.cam_step,
                                iou_thresholds=tuple(eval_cfg.iou_thresholds),
                                multi_contour=eval_cfg.multi_contour, image_size=image_size,
                                workers=eval_cfg.workers)
    if main and has_masks:
        mask_eval = _mask_evaluator(metadata, Path(mask_root), eval_cfg, image_size)
    sampler = (DistributedSampler(dataset, num_replicas=dist_info.world_size,
                                  rank=dist_info.rank, shuffle=False)
               if dist_info.enabled else None)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, sampler=sampler,
                        num_workers=num_workers, pin_memory=device.type == "cuda")
    if save_cams is not None and main:
        save_cams = Path(save_cams)
        save_cams.mkdir(parents=True, exist_ok=True)
    labels: dict[str, int] = {}
    predictions: dict[str, list[int]] = {}
    progress = tqdm(total=len(dataset), desc=desc, leave=False, disable=quiet or not main,
                    dynamic_ncols=True)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for ids, ys, topk, cams in _batches(model, loader, device, amp, channels_last,
                                                progress if main else None):
                maps = scoremaps_from_cams(cams, image_size, eval_cfg.cam_normalization)
                parts = all_gather_objects((ids, ys, topk, maps), dist_info)
                if not main:
                    continue
                new_ids, new_maps = [], []
                for p_ids, p_ys, p_topk, p_maps in parts:
                    for image_id, y, top, scoremap in zip(p_ids, p_ys, p_topk, p_maps):
                        if image_id in labels:  # DistributedSampler pads with repeats
                            continue
                        labels[image_id] = int(y)
                        predictions[image_id] = [int(c) for c in top]
                        if box_eval is not None and image_id in box_eval.gt_boxes:
                            box_eval.accumulate(scoremap, image_id)
                        if mask_eval is not None and metadata.masks.get(image_id):
                            mask_eval.accumulate(scoremap, image_id)
                        new_ids.append(image_id)
                        new_maps.append(scoremap)
                if save_cams is not None and new_ids:
                    from moana.cam import save_scoremaps

                    save_scoremaps(save_cams, new_ids, new_maps)
    finally:
        progress.close()
        model.train(was_training)
        if box_eval is not None:
            box_eval.close()  # shuts the worker pool down; the results stay
    metrics: dict[str, Any] | None = None
    if main:
        metrics = _summarize(labels, predictions, box_eval, mask_eval, thresholds,
                             topk_localization)
        metrics["cam_normalization"] = eval_cfg.cam_normalization
    return broadcast_object(metrics, dist_info)


def _summarize(labels: dict[str, int], predictions: dict[str, list[int]], box_eval: Any,
               mask_eval: Any, thresholds: dict[str, float] | None,
               topk_localization: Any) -> dict[str, Any]:
    n = len(labels)
    if n == 0:
        raise ValueError("the split has no images to evaluate")
    metrics: dict[str, Any] = {"num_images": n}
    metrics["top1_cls"] = 100.0 * sum(predictions[i][0] == y for i, y in labels.items()) / n
    metrics["top5_cls"] = 100.0 * sum(y in predictions[i][:5] for i, y in labels.items()) / n
    thresholds = thresholds or {}
    if box_eval is not None:
        box = box_eval.compute()
        for key, value in box.items():
            if key in ("thresholds", "curves", "num_images", "multi_contour", "GT-known loc"):
                continue
            metrics[key] = value
        threshold = thresholds.get("box_threshold", box["best_threshold@50"])
        correct = box_eval.correct_at(float(threshold), iou=50)
        metrics["box_threshold"] = float(box_eval.thresholds[box_eval.threshold_index(
            float(threshold))])
        metrics["gt_known_loc"] = 100.0 * sum(correct.values()) / len(correct)
        metrics.update(topk_localization(correct, labels, predictions, ks=(1, 5)))
        metrics["box_curves"] = box["curves"]
    if mask_eval is not None:
        mask = mask_eval.compute()
        metrics["PxAP"] = float(mask["PxAP"])
        metrics["PIoU"] = float(mask["PIoU"])
        metrics["PIoU_threshold"] = float(mask["PIoU_threshold"])
    return metrics


def selection_score(metrics: dict[str, Any], select_by: str) -> tuple[str, float]:
    """The val metric that picks the best checkpoint (wsolevaluation: localization)."""
    if select_by == "auto":
        for key in ("MaxBoxAccV2", "PxAP", "top1_cls"):
            if key in metrics:
                return key, float(metrics[key])
    if select_by not in metrics:
        raise ValueError(f"eval.select_by={select_by!r} but the val split gives only "
                         f"{sorted(k for k in metrics if not isinstance(metrics[k], dict))}")
    return select_by, float(metrics[select_by])


def val_thresholds(val_metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(val_metrics[k]) for k in THRESHOLD_KEYS if k in val_metrics}


# --------------------------------------------------------------------------- evaluate a run


def evaluate_checkpoint(config: TrainConfig, checkpoint: Path | str, *, split: str = "test",
                        save_cams: Path | str | None = None,
                        thresholds: dict[str, float] | None = None,
                        quiet: bool | None = None, device: str | None = None
                        ) -> dict[str, Any]:
    """Metrics of a checkpoint on one split of the config's data (single process).

    Without ``thresholds`` the val split is evaluated first to choose them (unless ``split`` is
    val itself).
    """
    from moana.train.fit import build_from_config, prepare_data, resolve_device

    device_t = resolve_device(device or config.runtime.device, DistInfo())
    quiet_flag = is_quiet(quiet, config.runtime.quiet)
    data = prepare_data(config, DistInfo(), quiet=quiet_flag)
    model = build_from_config(config, data.num_classes).to(device_t)
    if config.runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    state = load_checkpoint(checkpoint, map_location=device_t)
    load_model_weights(model, state, checkpoint)
    common = dict(device=device_t, eval_cfg=config.eval, image_size=config.data.image_size,
                  batch_size=config.eval.batch_size or config.optim.batch_size,
                  num_workers=config.data.num_workers, mask_root=data.mask_root,
                  amp=config.runtime.amp, channels_last=config.runtime.channels_last,
                  quiet=quiet_flag)
    if thresholds is None and split != "val":
        val = evaluate_localization(model, data.dataset("val"), desc="val", **common)
        thresholds = val_thresholds(val)
    metrics = evaluate_localization(model, data.dataset(split), thresholds=thresholds,
                                    save_cams=Path(save_cams) if save_cams else None,
                                    desc=split, **common)
    metrics.update(split=split, checkpoint=str(checkpoint), epoch=state.get("epoch"),
                   thresholds_from="val" if split != "val" else "val (own)")
    return metrics


def evaluate_run(run_dir: Path | str, split: str = "test", save_cams: Path | str | None = None,
                 *, checkpoint: str | None = None, quiet: bool | None = None,
                 device: str | None = None, write: bool = True) -> dict[str, Any]:
    """Recompute a run's metrics on ``split`` from its checkpoint (``best``/``last``/a path).

    The CAM thresholds for top-k loc come from the run's val results (``final_metrics.json``)
    when present. Results are written to ``<run_dir>/eval_<split>.json`` (``write=True``); with
    ``save_cams`` the score maps go to that folder as ``<image_id>.npy``.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no {CONFIG_FILE})")
    config = load_config(config_path)
    which = checkpoint or config.eval.checkpoint
    ckpt = Path(which) if which not in ("best", "last") else (
        run_dir / CHECKPOINT_DIR / f"{which}.pt")
    thresholds = None
    final = run_dir / FINAL_JSON
    if final.is_file() and split != "val" and which == config.eval.checkpoint:
        val = read_json(final).get("val", {})
        thresholds = val_thresholds(val) or None
    metrics = evaluate_checkpoint(config, ckpt, split=split, save_cams=save_cams,
                                  thresholds=thresholds, quiet=quiet, device=device)
    if save_cams:
        metrics["scoremaps"] = str(save_cams)
    if write:
        write_json(run_dir / f"eval_{split}.json", metrics)
    return metrics
