"""Driver of the WSSS pipeline (IRN, Ahn et al. CVPR 2019, with MoANA CAMs, Sohn et al. 2023).

``run_pipeline(cfg)`` runs, for every method in ``cfg.methods`` ("cam", "moana"), the steps
:data:`STEPS` under ``<work_dir>/<method>/``; every step writes its outputs to disk and a marker
``done/<step>.json`` (parameters, result, run id) when it completes. A rerun skips a step whose
marker matches the current parameters and upstream runs and whose outputs are all present;
a step that was interrupted (no marker) is redone, keeping per-image files that were already
written (they are written atomically) unless its parameters changed. ``force`` redoes the
selected steps from scratch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moana.io import atomic_write_bytes
from moana.wsss._io import resolve_device, save_json
from moana.wsss.config import WSSSConfig, config_from_dict, load_wsss_config

__all__ = ["STEPS", "WSSSConfig", "load_wsss_config", "config_from_dict", "run_pipeline",
           "prepare_data", "VOCData", "run_dirs", "load_summary"]

log = logging.getLogger(__name__)

STEPS: tuple[str, ...] = ("train_cam", "make_cam", "eval_cam", "ir_label", "train_irn",
                          "make_sem_seg", "eval_sem_seg")
DEPENDS: dict[str, tuple[str, ...]] = {
    "train_cam": (), "make_cam": ("train_cam",), "eval_cam": ("make_cam",),
    "ir_label": ("make_cam",), "train_irn": ("ir_label",),
    "make_sem_seg": ("make_cam", "train_irn"), "eval_sem_seg": ("make_sem_seg",),
}


@dataclass
class VOCData:
    """Resolved data: root, image lists and image-level labels."""

    root: Path
    train_ids: list[str]
    infer_ids: list[str]
    eval_ids: list[str]
    cls_labels: dict[str, np.ndarray]

    @property
    def cam_ids(self) -> list[str]:
        """CAMs are made for every image used later (IRN: the training list)."""
        return list(dict.fromkeys([*self.train_ids, *self.infer_ids, *self.eval_ids]))

    @property
    def sem_seg_ids(self) -> list[str]:
        """Pseudo-masks are made for the inference list and the evaluated images."""
        return list(dict.fromkeys([*self.infer_ids, *self.eval_ids]))


def _resolve_list(root: Path, name: str) -> Path:
    candidates = [Path(name), root / name, root / "ImageSets" / "Segmentation" / f"{name}.txt",
                  root / f"{name}.txt"]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"image list {name!r} not found (looked at "
                            f"{', '.join(str(p) for p in candidates[1:])})")


def prepare_data(cfg: WSSSConfig) -> VOCData:
    """Generate the synthetic VOC data if configured (once), then read lists and labels."""
    from moana.data.voc import load_cls_labels, read_id_list

    data = cfg.data
    if data.synthetic is not None:
        root = Path(cfg.work_dir) / "data"
        if not (root / "synthetic.json").is_file():  # written last by make_voc_dataset
            from moana.data.synthetic import make_voc_dataset

            make_voc_dataset(root, **{"seed": cfg.seed, **data.synthetic})
    elif data.voc_root:
        root = Path(data.voc_root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"data.voc_root {root} is not a directory")
    else:
        raise ValueError("set data.voc_root (a VOC2012 folder) or data.synthetic")
    labels_path = Path(data.cls_labels)
    labels = load_cls_labels(labels_path if labels_path.is_absolute() else root / labels_path)

    def ids(name: str) -> list[str]:
        listed = read_id_list(_resolve_list(root, name))
        return listed[: data.max_images] if data.max_images else listed

    infer = ids(data.infer_list)
    return VOCData(root, ids(data.train_list), infer,
                   ids(data.eval_list) if data.eval_list else infer, labels)


def run_dirs(cfg: WSSSConfig, method: str) -> dict[str, Path]:
    """Where each step of ``method`` writes."""
    root = Path(cfg.work_dir) / method
    return {"root": root, "cam_model": root / "cam_model.pt", "cams": root / "cams",
            "ir_label": root / "ir_label", "irn_model": root / "irn_model.pt",
            "sem_seg": root / "sem_seg", "done": root / "done"}


def _digest(items: Sequence[str]) -> str:
    return hashlib.sha1("\n".join(items).encode()).hexdigest()[:16]


def _step_params(cfg: WSSSConfig, method: str, step: str, data: VOCData) -> dict[str, Any]:
    cam = asdict(cfg.cam)
    if step == "train_cam":
        for key in ("scales", "cam_stride", "num_workers"):
            cam.pop(key)
        return {"cam": cam, "attention_kw": cfg.attention_kw.get(method, {}), "seed": cfg.seed,
                "train_ids": _digest(data.train_ids), "root": str(data.root)}
    if step == "make_cam":
        return {"scales": list(cfg.cam.scales), "cam_stride": cfg.cam.cam_stride,
                "ids": _digest(data.cam_ids)}
    if step == "eval_cam":
        return {"eval": asdict(cfg.eval), "ids": _digest(data.eval_ids)}
    if step == "ir_label":
        params = asdict(cfg.ir_label)
        params.pop("num_workers")
        return {**params, "ids": _digest(data.train_ids)}
    if step == "train_irn":
        params = asdict(cfg.irn)
        params.pop("num_workers")
        return {"irn": params, "seed": cfg.seed, "ids": _digest(data.train_ids)}
    if step == "make_sem_seg":
        return {**asdict(cfg.sem_seg), "ids": _digest(data.sem_seg_ids)}
    if step == "eval_sem_seg":
        return {"ids": _digest(data.eval_ids)}
    raise ValueError(f"unknown step {step!r}; steps are {list(STEPS)}")


def _normalize(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _read_marker(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None  # a corrupt marker means the step is not known to be complete


def _outputs_complete(step: str, dirs: dict[str, Path], data: VOCData) -> bool:
    if step == "train_cam":
        return dirs["cam_model"].is_file()
    if step == "train_irn":
        return dirs["irn_model"].is_file()
    per_image = {"make_cam": (dirs["cams"], ".npy", data.cam_ids),
                 "ir_label": (dirs["ir_label"], ".png", data.train_ids),
                 "make_sem_seg": (dirs["sem_seg"], ".png", data.sem_seg_ids)}
    if step in per_image:
        folder, suffix, ids = per_image[step]
        return all((folder / f"{i}{suffix}").is_file() for i in ids)
    files = {"eval_cam": ["eval_cam.json", "eval_cam_curve.csv"],
             "eval_sem_seg": ["eval_sem_seg.json", "sem_seg_iou.csv", "sem_seg_confusion.csv"]}
    return all((dirs["root"] / f).is_file() for f in files[step])


def _execute(step: str, cfg: WSSSConfig, method: str, data: VOCData, dirs: dict[str, Path],
             overwrite: bool, device: Any) -> dict[str, Any]:
    """Run one step; returns its (JSON-able) result."""
    if step == "train_cam":
        from moana.wsss.train_cam import train_cam

        return train_cam(cfg.cam, voc_root=data.root, train_ids=data.train_ids,
                         cls_labels=data.cls_labels, method=method,
                         attention_kw=cfg.attention_kw.get(method), out_path=dirs["cam_model"],
                         seed=cfg.seed, device=device)
    if step == "make_cam":
        from moana.wsss.make_cam import make_cams
        from moana.wsss.train_cam import load_cam_model

        model = load_cam_model(dirs["cam_model"], cfg.cam, device)
        start = time.perf_counter()
        count = make_cams(model, voc_root=data.root, image_ids=data.cam_ids,
                          cls_labels=data.cls_labels, out_dir=dirs["cams"],
                          scales=cfg.cam.scales, cam_stride=cfg.cam.cam_stride, device=device,
                          overwrite=overwrite)
        return {"computed": count, "seconds": time.perf_counter() - start}
    if step == "eval_cam":
        from moana.wsss.eval_cam import eval_cams, threshold_grid

        result = eval_cams(dirs["cams"], voc_root=data.root, image_ids=data.eval_ids,
                           thresholds=threshold_grid(*cfg.eval.thresholds),
                           default_threshold=cfg.eval.default_threshold.get(method, 0.15))
        curve = result.pop("curve")
        atomic_write_bytes(dirs["root"] / "eval_cam_curve.csv", curve.to_csv(index=False).encode())
        save_json(dirs["root"] / "eval_cam.json", result)
        return result
    if step == "ir_label":
        from moana.wsss.ir_label import make_ir_labels, resolve_crf

        use_crf = resolve_crf(cfg.ir_label.crf)
        start = time.perf_counter()
        count = make_ir_labels(dirs["cams"], voc_root=data.root, image_ids=data.train_ids,
                               out_dir=dirs["ir_label"], fg_thres=cfg.ir_label.conf_fg_thres,
                               bg_thres=cfg.ir_label.conf_bg_thres, use_crf=use_crf,
                               crf_scale=cfg.ir_label.crf_scale, overwrite=overwrite)
        return {"computed": count, "crf": use_crf, "seconds": time.perf_counter() - start}
    if step == "train_irn":
        from moana.wsss.irn import train_irn

        return train_irn(cfg.irn, voc_root=data.root, train_ids=data.train_ids,
                         ir_label_dir=dirs["ir_label"], out_path=dirs["irn_model"],
                         seed=cfg.seed, device=device)
    if step == "make_sem_seg":
        from moana.wsss.irn import load_irn
        from moana.wsss.sem_seg import make_sem_seg_labels

        start = time.perf_counter()
        count = make_sem_seg_labels(load_irn(dirs["irn_model"], device), cam_dir=dirs["cams"],
                                    voc_root=data.root, image_ids=data.sem_seg_ids,
                                    out_dir=dirs["sem_seg"], radius=cfg.sem_seg.radius,
                                    beta=cfg.sem_seg.beta, exp_times=cfg.sem_seg.exp_times,
                                    bg_thres=cfg.sem_seg.bg_thres, device=device,
                                    overwrite=overwrite)
        return {"computed": count, "seconds": time.perf_counter() - start}
    if step == "eval_sem_seg":
        from moana.wsss.eval_sem_seg import eval_sem_seg

        result = eval_sem_seg(dirs["sem_seg"], voc_root=data.root, image_ids=data.eval_ids)
        atomic_write_bytes(dirs["root"] / "sem_seg_iou.csv",
                           result["iou_per_class"].to_csv(index=False).encode())
        atomic_write_bytes(dirs["root"] / "sem_seg_confusion.csv",
                           result["confusion"].to_csv().encode())
        summary = {"miou": result["miou"],
                   "iou_per_class": dict(zip(result["iou_per_class"]["class"],
                                             result["iou_per_class"]["iou"]))}
        save_json(dirs["root"] / "eval_sem_seg.json", summary)
        return summary
    raise ValueError(f"unknown step {step!r}; steps are {list(STEPS)}")


def run_step(cfg: WSSSConfig, method: str, step: str, *, data: VOCData | None = None,
             force: bool = False, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or skip, when complete and up to date) one step of ``method``; returns its result."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; steps are {list(STEPS)}")
    echo = echo or log.info
    data = data or prepare_data(cfg)
    dirs = run_dirs(cfg, method)
    dirs["done"].mkdir(parents=True, exist_ok=True)
    upstream = {}
    for dep in DEPENDS[step]:
        marker = _read_marker(dirs["done"] / f"{dep}.json")
        if marker is None:
            raise ValueError(f"step {step!r} of {method!r} needs step {dep!r}, which has not "
                             f"completed under {dirs['root']}; run it first")
        upstream[dep] = marker["run_id"]
    params = _normalize({"params": _step_params(cfg, method, step, data), "upstream": upstream})
    done_path = dirs["done"] / f"{step}.json"
    started_path = dirs["done"] / f"{step}.started.json"
    done = _read_marker(done_path)
    if (not force and done is not None and done.get("key") == params
            and _outputs_complete(step, dirs, data)):
        echo(f"[{method}] {step}: complete, skipped")
        return done["result"]
    started = _read_marker(started_path)
    overwrite = force or (started is not None and started.get("key") != params)
    done_path.unlink(missing_ok=True)
    save_json(started_path, {"key": params})
    echo(f"[{method}] {step}: running{' (from scratch)' if overwrite else ''}")
    device = resolve_device(cfg.device)
    start = time.perf_counter()
    result = _normalize(_execute(step, cfg, method, data, dirs, overwrite, device))
    save_json(done_path, {"key": params, "result": result, "run_id": uuid.uuid4().hex,
                          "seconds": time.perf_counter() - start})
    return result


def run_pipeline(cfg: WSSSConfig, *, steps: Sequence[str] | None = None, force: bool = False,
                 methods: Sequence[str] | None = None,
                 echo: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run ``steps`` (default all) for ``methods`` (default ``cfg.methods``).

    Returns (and writes to ``<work_dir>/summary.csv``) one row per method: CAM mIoU at the
    best and default thresholds and the pseudo-mask mIoU (NaN for steps not run yet).
    """
    steps = list(steps or STEPS)
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown step(s) {unknown}; steps are {list(STEPS)}")
    steps = [s for s in STEPS if s in steps]  # always in pipeline order
    methods = list(methods or cfg.methods)
    work_dir = Path(cfg.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(work_dir / "config.json", json.dumps(cfg.to_dict(), indent=2).encode())
    data = prepare_data(cfg)
    for method in methods:
        for step in steps:
            run_step(cfg, method, step, data=data, force=force, echo=echo)
    summary = load_summary(cfg, methods)
    atomic_write_bytes(work_dir / "summary.csv", summary.to_csv(index=False).encode())
    return summary


def load_summary(cfg: WSSSConfig, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """The per-method numbers found on disk (NaN where a step has not completed)."""
    rows = []
    for method in methods or cfg.methods:
        dirs = run_dirs(cfg, method)
        cam = _read_marker(dirs["done"] / "eval_cam.json")
        seg = _read_marker(dirs["done"] / "eval_sem_seg.json")
        ir = _read_marker(dirs["done"] / "ir_label.json")
        cam_res = cam["result"] if cam else {}
        rows.append({
            "method": method,
            "cam_miou_best": cam_res.get("best_miou", np.nan),
            "cam_best_threshold": cam_res.get("best_threshold", np.nan),
            "cam_default_threshold": cam_res.get("default_threshold", np.nan),
            "cam_miou_at_default": cam_res.get("miou_at_default", np.nan),
            "pseudo_mask_miou": seg["result"]["miou"] if seg else np.nan,
            "crf": ir["result"]["crf"] if ir else None,
        })
    return pd.DataFrame(rows)
