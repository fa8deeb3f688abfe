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

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from moana.engine.checkpoint import load_checkpoint, load_model_weights
from moana.engine.distributed import all_gather_objects, broadcast_object
from moana.engine.runtime import autocast_context, is_quiet, place_model, resolve_device
from moana.train.config import TrainConfig
from moana.train.prepare import EvalSettings, build_from_config, prepare_data

#: Keys of the val metrics that carry the thresholds used on test.
THRESHOLD_KEYS = ("box_threshold",)


def scoremaps_from_cams(cams: np.ndarray, image_size: int, normalization: str) -> list[np.ndarray]:
    """Resize each CAM to ``image_size`` (bicubic, float64) and normalize it to [0, 1].

    NaN CAMs are scored as all-zero maps with a warning (wsolevaluation's convention).
    """
    from moana.cam.extract import scoremap_from_cam

    return [scoremap_from_cam(cam, normalization, (image_size, image_size), nan_policy="warn")
            for cam in cams]


class _Scorer:
    """Rank 0's evaluators (boxes, masks) and the per-image labels and predictions."""

    def __init__(self, metadata: Any, settings: EvalSettings, save_cams: Path | None) -> None:
        from moana.metrics.boxes import BoxEvaluator
        from moana.metrics.masks import MaskEvaluator

        cfg, size = settings.eval_cfg, settings.image_size
        self.metadata = metadata
        self.box_eval = self.mask_eval = None
        if metadata.boxes:
            self.box_eval = BoxEvaluator(metadata, step=cfg.cam_step,
                                         iou_thresholds=tuple(cfg.iou_thresholds),
                                         multi_contour=cfg.multi_contour, image_size=size,
                                         workers=cfg.workers)
        if metadata.masks and settings.mask_root is not None:
            self.mask_eval = MaskEvaluator(metadata, Path(settings.mask_root), step=cfg.cam_step,
                                           image_size=size)
        self.save_cams = save_cams
        if save_cams is not None:
            from moana.scoremaps import protocol, write_protocol

            save_cams.mkdir(parents=True, exist_ok=True)  # evaluate-scoremaps reads the step here
            write_protocol(save_cams, protocol(cfg.cam_step, cfg.cam_normalization,
                                               cfg.multi_contour))
        self.labels: dict[str, int] = {}
        self.predictions: dict[str, list[int]] = {}

    def add(self, parts: list[tuple]) -> None:
        new_ids, new_maps = [], []
        for p_ids, p_ys, p_topk, p_maps in parts:
            for image_id, y, top, scoremap in zip(p_ids, p_ys, p_topk, p_maps):
                if image_id in self.labels:  # DistributedSampler pads with repeats
                    continue
                self.labels[image_id] = int(y)
                self.predictions[image_id] = [int(c) for c in top]
                if self.box_eval is not None and image_id in self.box_eval.gt_boxes:
                    self.box_eval.accumulate(scoremap, image_id)
                if self.mask_eval is not None and self.metadata.masks.get(image_id):
                    self.mask_eval.accumulate(scoremap, image_id)
                new_ids.append(image_id)
                new_maps.append(scoremap)
        if self.save_cams is not None and new_ids:
            from moana.scoremaps import save_scoremaps

            save_scoremaps(self.save_cams, new_ids, new_maps)

    def close(self) -> None:
        if self.box_eval is not None:
            self.box_eval.close()  # shuts the worker pool down; the results stay


def _loader(dataset: Dataset, settings: EvalSettings) -> DataLoader:
    dist_info = settings.dist_info
    sampler = (DistributedSampler(dataset, num_replicas=dist_info.world_size,
                                  rank=dist_info.rank, shuffle=False)
               if dist_info.enabled else None)
    return DataLoader(dataset, batch_size=settings.batch_size, shuffle=False, sampler=sampler,
                      num_workers=settings.num_workers,
                      pin_memory=settings.device.type == "cuda")


def evaluate_localization(model: nn.Module, dataset: Dataset, settings: EvalSettings, *,
                          thresholds: dict[str, float] | None = None,
                          save_cams: Path | None = None, desc: str = "eval") -> dict[str, Any]:
    """Classification and localization metrics of ``model`` on ``dataset`` (a WSOLDataset).

    Work is split over the ranks of ``settings.dist_info``; rank 0 gathers the score maps,
    scores them and broadcasts the metrics, so every rank returns the same dict. ``thresholds``
    (from the val split: ``box_threshold``) fixes the CAM threshold of top-1/top-5/GT-known
    loc; without it this split's own best threshold at IoU 50 is used. MaxBoxAcc, PxAP and PIoU
    are threshold-free (best over the threshold list), as in wsolevaluation. Metrics are in
    percent. CAMs come from :func:`moana.cam.iter_cam_batches` (GT-known protocol; NaN CAMs
    are scored as zero maps with a warning).
    """
    from moana.cam.extract import iter_cam_batches
    from moana.metrics.boxes import topk_localization

    main = settings.dist_info.is_main
    scorer = _Scorer(dataset.metadata, settings,
                     Path(save_cams) if save_cams is not None else None) if main else None
    progress = tqdm(total=len(dataset), desc=desc, leave=False,
                    disable=settings.quiet or not main, dynamic_ncols=True)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for batch in iter_cam_batches(
                    model, _loader(dataset, settings), device=settings.device,
                    nan_policy="warn", channels_last=settings.channels_last,
                    autocast=lambda: autocast_context(settings.device, settings.amp)):
                progress.update(len(batch.image_ids))
                maps = scoremaps_from_cams(batch.cams, settings.image_size,
                                           settings.eval_cfg.cam_normalization)
                parts = all_gather_objects((batch.image_ids, batch.labels, batch.topk, maps),
                                           settings.dist_info)
                if main:
                    scorer.add(parts)
    finally:
        progress.close()
        model.train(was_training)
        if scorer is not None:
            scorer.close()
    metrics: dict[str, Any] | None = None
    if main:
        metrics = _summarize(scorer.labels, scorer.predictions, scorer.box_eval,
                             scorer.mask_eval, thresholds, topk_localization)
        from moana.scoremaps import protocol

        cfg = settings.eval_cfg
        metrics["cam_normalization"] = cfg.cam_normalization
        metrics["protocol"] = protocol(cfg.cam_step, cfg.cam_normalization, cfg.multi_contour)
    return broadcast_object(metrics, settings.dist_info)


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
    """The CAM thresholds chosen on val (``box_threshold``, a fraction of the normalized CAM) from
    val metrics, to apply unchanged on test (wsolevaluation's protocol)."""
    return {k: float(val_metrics[k]) for k in THRESHOLD_KEYS if k in val_metrics}


# --------------------------------------------------------------------------- evaluate a run


def checkpoint_format(path: Path | str) -> str:
    """``"moana"`` for a checkpoint written by the trainer, ``"wsolevaluation"`` for one written by
    clovaai/wsolevaluation's ``main.py`` (a dict with a ``state_dict``, no moana ``format`` tag).
    Raises FileNotFoundError / ValueError naming ``path`` (read with ``weights_only=True``)."""
    import torch

    from moana.engine.checkpoint import FORMAT

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors, truncated files, foreign objects
        raise ValueError(f"checkpoint {path} cannot be read safely (weights_only=True): "
                         f"{err}") from err
    if isinstance(state, dict) and state.get("format") == FORMAT:
        return "moana"
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        return "wsolevaluation"
    raise ValueError(f"{path} is neither a moana training checkpoint nor a wsolevaluation "
                     f"checkpoint (a dict with 'state_dict'); for the official MoANA release use "
                     f"moana.models.load_official_checkpoint")


def _checkpoint_model(config: TrainConfig, checkpoint: Path | str, fmt: str, num_classes: int,
                      device_t: Any) -> tuple[Any, int | None]:
    """(model with the checkpoint's weights on ``device_t``, its epoch or None)."""
    if fmt == "wsolevaluation":
        from moana.models import load_wsolevaluation_checkpoint

        m = config.model
        model = load_wsolevaluation_checkpoint(
            checkpoint, arch=m.arch, method=m.method, num_classes=num_classes,
            large_feature_map=m.large_feature_map, method_kw=dict(m.method_kw) or None)
        return place_model(model, device_t, config.runtime.channels_last), None
    model = place_model(build_from_config(config, num_classes), device_t,
                        config.runtime.channels_last)
    state = load_checkpoint(checkpoint, map_location=device_t)
    load_model_weights(model, state, checkpoint)
    return model, state.get("epoch")


def evaluate_checkpoint(config: TrainConfig, checkpoint: Path | str, *, split: str = "test",
                        save_cams: Path | str | None = None,
                        thresholds: dict[str, float] | None = None,
                        quiet: bool | None = None, device: str | None = None
                        ) -> dict[str, Any]:
    """Metrics of a checkpoint on one split of the config's data (single process).

    ``checkpoint`` is a moana training checkpoint or one written by wsolevaluation's ``main.py``
    (Choe et al., CVPR 2020; told apart by :func:`checkpoint_format`), loaded strictly into
    ``config.model``'s architecture and method with
    :func:`moana.models.load_wsolevaluation_checkpoint`. Without ``thresholds`` the val split is
    evaluated first to choose them (unless ``split`` is val itself). Metrics are in percent.
    """
    device_t = resolve_device(device or config.runtime.device)
    quiet_flag = is_quiet(quiet, config.runtime.quiet)
    data = prepare_data(config, quiet=quiet_flag)
    fmt = checkpoint_format(checkpoint)
    model, epoch = _checkpoint_model(config, checkpoint, fmt, data.num_classes, device_t)
    settings = EvalSettings.from_config(config, device=device_t, mask_root=data.mask_root,
                                        quiet=quiet_flag)
    if thresholds is None and split != "val":
        val = evaluate_localization(model, data.dataset("val"), settings, desc="val")
        thresholds = val_thresholds(val)
    metrics = evaluate_localization(model, data.dataset(split), settings, thresholds=thresholds,
                                    save_cams=Path(save_cams) if save_cams else None,
                                    desc=split)
    metrics.update(split=split, checkpoint=str(checkpoint), epoch=epoch,
                   checkpoint_format=fmt,
                   thresholds_from="val" if split != "val" else "val (own)")
    return metrics


def evaluate_run(run_dir: Path | str, split: str = "test", save_cams: Path | str | None = None,
                 *, checkpoint: str | None = None, quiet: bool | None = None,
                 device: str | None = None, write: bool = True) -> dict[str, Any]:
    """Recompute a run's metrics on ``split`` from its checkpoint (``best``/``last``/a path).

    The CAM thresholds for top-k loc come from the run's val results (its final metrics) when
    present. Results are written to the run's ``eval_<split>.json`` (``write=True``); with
    ``save_cams`` the score maps go to that folder as ``<image_id>.npy``.
    """
    from moana.train.run import Run

    run = Run(run_dir)
    config = run.config
    which = checkpoint or config.eval.checkpoint
    ckpt = run.checkpoint_path(which) if which in ("best", "last") else Path(which)
    thresholds = None
    if run.has_final_metrics and split != "val" and which == config.eval.checkpoint:
        thresholds = val_thresholds(run.final_metrics().get("val", {})) or None
    metrics = evaluate_checkpoint(config, ckpt, split=split, save_cams=save_cams,
                                  thresholds=thresholds, quiet=quiet, device=device)
    if save_cams:
        metrics["scoremaps"] = str(save_cams)
    if write:
        run.write_eval(split, metrics)
    return metrics
