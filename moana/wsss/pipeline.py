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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moana.io import atomic_write_bytes, to_jsonable
from moana.progress import report
from moana.train.setup import resolve_device
from moana.wsss._io import save_json
from moana.wsss.config import STEPS, WSSSConfig, config_from_dict, load_wsss_config

__all__ = ["STEPS", "WSSSConfig", "load_wsss_config", "config_from_dict", "run_pipeline",
           "prepare_data", "VOCData", "run_dirs", "load_summary"]

log = logging.getLogger(__name__)

DEPENDS: dict[str, tuple[str, ...]] = {
    "train_cam": (), "make_cam": ("train_cam",), "eval_cam": ("make_cam",),
    "ir_label": ("make_cam",), "train_irn": ("ir_label",),
    "make_sem_seg": ("make_cam", "train_irn"), "eval_sem_seg": ("make_sem_seg",),
    "train_seg": ("make_sem_seg",), "eval_seg": ("train_seg",),
}


@dataclass
class VOCData:
    """Resolved data: root, image lists and image-level labels."""

    root: Path
    train_ids: list[str]
    infer_ids: list[str]
    eval_ids: list[str]
    cls_labels: dict[str, np.ndarray]
    seg_train_ids: list[str] = field(default_factory=list)  # DeepLab training (train_aug)
    seg_val_ids: list[str] | None = None  # DeepLab evaluation (val); None: list not found
    seg_val_list: str = "val"

    @property
    def cam_ids(self) -> list[str]:
        """CAMs are made for every image used later (IRN: the training list)."""
        return list(dict.fromkeys([*self.train_ids, *self.infer_ids, *self.eval_ids,
                                   *self.seg_train_ids]))

    @property
    def sem_seg_ids(self) -> list[str]:
        """Pseudo-masks are made for the inference list, the evaluated images and the
        segmentation network's training list."""
        return list(dict.fromkeys([*self.infer_ids, *self.eval_ids, *self.seg_train_ids]))

    def val_ids(self) -> list[str]:
        """The segmentation network's validation ids (ValueError when the list is absent)."""
        if self.seg_val_ids is None:
            raise ValueError(f"seg.val_list {self.seg_val_list!r} not found under {self.root}")
        return self.seg_val_ids


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

            make_voc_dataset(root, **{"seed": cfg.runtime.seed, **data.synthetic})
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
    train = ids(data.train_list)
    seg_train = ids(cfg.seg.train_list) if cfg.seg.train_list else train
    try:
        seg_val: list[str] | None = ids(cfg.seg.val_list)
    except FileNotFoundError:
        seg_val = None  # only the eval_seg step needs it (VOCData.val_ids raises then)
    return VOCData(root, train, infer, ids(data.eval_list) if data.eval_list else infer,
                   labels, seg_train, seg_val, cfg.seg.val_list)


def run_dirs(cfg: WSSSConfig, method: str) -> dict[str, Path]:
    """Where each step of ``method`` writes."""
    root = Path(cfg.work_dir) / method
    return {"root": root, "cam_model": root / "cam_model.pt", "cams": root / "cams",
            "ir_label": root / "ir_label", "irn_model": root / "irn_model.pt",
            "sem_seg": root / "sem_seg", "seg_model": root / "seg_model.pt",
            "seg_pred": root / "seg_pred", "done": root / "done"}


def _digest(items: Sequence[str]) -> str:
    return hashlib.sha1("\n".join(items).encode()).hexdigest()[:16]


def _speed(cfg: WSSSConfig) -> dict[str, Any]:
    """The training steps' AMP and channels-last settings (``amp``, ``channels_last``)."""
    return {"amp": cfg.runtime.amp, "channels_last": cfg.runtime.channels_last}


def _step_params(cfg: WSSSConfig, method: str, step: str, data: VOCData) -> dict[str, Any]:
    params = _step_params_core(cfg, method, step, data)
    if step in ("train_cam", "train_irn", "train_seg"):
        # recorded only when not the defaults, so markers written before these options existed
        # stay valid
        params.update({k: v for k, v in _speed(cfg).items()
                       if v != {"amp": "none", "channels_last": False}[k]})
    return params


def _step_params_core(cfg: WSSSConfig, method: str, step: str, data: VOCData
                      ) -> dict[str, Any]:
    cam = asdict(cfg.cam)
    if step == "train_cam":
        for key in ("scales", "cam_stride", "num_workers", "cam_bias"):
            cam.pop(key)
        return {"cam": cam, "attention_kw": cfg.attention_kw.get(method, {}), "seed": cfg.runtime.seed,
                "train_ids": _digest(data.train_ids), "root": str(data.root)}
    if step == "make_cam":
        return {"scales": list(cfg.cam.scales), "cam_stride": cfg.cam.cam_stride,
                "cam_bias": cfg.cam.cam_bias, "ids": _digest(data.cam_ids)}
    if step == "eval_cam":
        return {"eval": asdict(cfg.eval), "ids": _digest(data.eval_ids)}
    if step == "ir_label":
        params = asdict(cfg.ir_label)
        params.pop("num_workers")
        return {**params, "ids": _digest(data.train_ids)}
    if step == "train_irn":
        params = asdict(cfg.irn)
        params.pop("num_workers")
        return {"irn": params, "seed": cfg.runtime.seed, "ids": _digest(data.train_ids)}
    if step == "make_sem_seg":
        return {**asdict(cfg.sem_seg), "ids": _digest(data.sem_seg_ids)}
    if step == "eval_sem_seg":
        return {"ids": _digest(data.eval_ids)}
    if step == "train_seg":
        seg = asdict(cfg.seg)
        # checkpoint_every sets the training loop's epochs (each reseeded), so it is a parameter
        for key in ("eval_scales", "num_workers", "val_list"):
            seg.pop(key)
        return {"seg": seg, "seed": cfg.runtime.seed, "ids": _digest(data.seg_train_ids)}
    if step == "eval_seg":
        return {"scales": list(cfg.seg.eval_scales),
                "ids": _digest(data.seg_val_ids or [])}
    raise ValueError(f"unknown step {step!r}; steps are {list(STEPS)}")


def _normalize(value: Any) -> Any:
    return json.loads(json.dumps(to_jsonable(value), default=str))


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
    if step == "train_seg":
        return dirs["seg_model"].is_file()
    per_image = {"make_cam": (dirs["cams"], ".npy", data.cam_ids),
                 "ir_label": (dirs["ir_label"], ".png", data.train_ids),
                 "make_sem_seg": (dirs["sem_seg"], ".png", data.sem_seg_ids)}
    if step in per_image:
        folder, suffix, ids = per_image[step]
        return all((folder / f"{i}{suffix}").is_file() for i in ids)
    files = {"eval_cam": ["eval_cam.json", "eval_cam_curve.csv"],
             "eval_sem_seg": ["eval_sem_seg.json", "sem_seg_iou.csv", "sem_seg_confusion.csv"],
             "eval_seg": ["eval_seg.json", "seg_iou.csv"]}
    return all((dirs["root"] / f).is_file() for f in files[step])


def _execute(step: str, cfg: WSSSConfig, method: str, data: VOCData, dirs: dict[str, Path],
             overwrite: bool, device: Any) -> dict[str, Any]:
    """Run one step; returns its (JSON-able) result."""
    if step == "train_cam":
        from moana.wsss.train_cam import train_cam

        return train_cam(cfg.cam, voc_root=data.root, train_ids=data.train_ids,
                         cls_labels=data.cls_labels, method=method,
                         attention_kw=cfg.attention_kw.get(method), out_path=dirs["cam_model"],
                         seed=cfg.runtime.seed, device=device, overwrite=overwrite, **_speed(cfg))
    if step == "make_cam":
        from moana.wsss.make_cam import make_cams
        from moana.wsss.train_cam import load_cam_model

        model = load_cam_model(dirs["cam_model"], cfg.cam, device)
        start = time.perf_counter()
        count = make_cams(model, voc_root=data.root, image_ids=data.cam_ids,
                          cls_labels=data.cls_labels, out_dir=dirs["cams"],
                          scales=cfg.cam.scales, cam_stride=cfg.cam.cam_stride, device=device,
                          overwrite=overwrite, bias=cfg.cam.cam_bias)
        return {"computed": count, "seconds": time.perf_counter() - start}
    if step == "eval_cam":
        from moana.wsss.eval_cam import eval_cams, threshold_grid

        result = eval_cams(dirs["cams"], voc_root=data.root, image_ids=data.eval_ids,
                           thresholds=threshold_grid(*cfg.eval.thresholds),
                           default_threshold=cfg.eval.default_threshold.get(method, 0.15))
        curve = result.pop("curve")
        curve = pd.DataFrame({"threshold": curve["threshold"], "miou_pct": 100 * curve["miou"]})
        atomic_write_bytes(dirs["root"] / "eval_cam_curve.csv", curve.to_csv(index=False).encode())
        result = _to_percent(result)
        save_json(dirs["root"] / "eval_cam.json", result)
        return result
    if step == "ir_label":
        from moana.wsss.ir_label import make_ir_labels, resolve_crf

        use_crf = resolve_crf(cfg.ir_label.crf)
        start = time.perf_counter()
        count = make_ir_labels(dirs["cams"], voc_root=data.root, image_ids=data.train_ids,
                               out_dir=dirs["ir_label"], fg_thres=cfg.ir_label.conf_fg_thres,
                               bg_thres=cfg.ir_label.conf_bg_thres, use_crf=use_crf,
                               crf_scale=cfg.ir_label.crf_scale, overwrite=overwrite,
                               num_workers=cfg.ir_label.num_workers)
        return {"computed": count, "crf": use_crf, "seconds": time.perf_counter() - start}
    if step == "train_irn":
        from moana.wsss.irn import train_irn

        return train_irn(cfg.irn, voc_root=data.root, train_ids=data.train_ids,
                         ir_label_dir=dirs["ir_label"], out_path=dirs["irn_model"],
                         seed=cfg.runtime.seed, device=device, overwrite=overwrite, **_speed(cfg))
    if step == "make_sem_seg":
        from moana.wsss.irn import load_irn
        from moana.wsss.sem_seg import make_sem_seg_labels

        start = time.perf_counter()
        count = make_sem_seg_labels(load_irn(dirs["irn_model"], device), cam_dir=dirs["cams"],
                                    voc_root=data.root, image_ids=data.sem_seg_ids,
                                    out_dir=dirs["sem_seg"], radius=cfg.sem_seg.radius,
                                    beta=cfg.sem_seg.beta, exp_times=cfg.sem_seg.exp_times,
                                    bg_thres=cfg.sem_seg.bg_thres, device=device,
                                    overwrite=overwrite, pad_size=cfg.sem_seg.pad_size)
        return {"computed": count, "seconds": time.perf_counter() - start}
    if step == "eval_sem_seg":
        from moana.wsss.eval_sem_seg import eval_sem_seg

        result = eval_sem_seg(dirs["sem_seg"], voc_root=data.root, image_ids=data.eval_ids)
        iou = result["iou_per_class"]
        iou = pd.DataFrame({"class": iou["class"], "iou_pct": 100 * iou["iou"]})
        atomic_write_bytes(dirs["root"] / "sem_seg_iou.csv", iou.to_csv(index=False).encode())
        atomic_write_bytes(dirs["root"] / "sem_seg_confusion.csv",
                           result["confusion"].to_csv().encode())
        summary = {"miou_pct": 100 * result["miou"],
                   "iou_per_class_pct": dict(zip(iou["class"], iou["iou_pct"]))}
        save_json(dirs["root"] / "eval_sem_seg.json", summary)
        return summary
    if step in ("train_seg", "eval_seg"):
        return _execute_seg(step, cfg, data, dirs, overwrite, device)
    raise ValueError(f"unknown step {step!r}; steps are {list(STEPS)}")


def _execute_seg(step: str, cfg: WSSSConfig, data: VOCData, dirs: dict[str, Path],
                 overwrite: bool, device: Any) -> dict[str, Any]:
    """Step 7: DeepLabV3 on the pseudo-masks (train_seg), its val mIoU (eval_seg)."""
    if step == "train_seg":
        from moana.wsss.train_seg import train_seg

        return train_seg(cfg.seg, voc_root=data.root, train_ids=data.seg_train_ids,
                         mask_dir=dirs["sem_seg"], out_path=dirs["seg_model"], seed=cfg.runtime.seed,
                         device=device, overwrite=overwrite, **_speed(cfg))
    from moana.wsss.eval_seg import eval_seg
    from moana.wsss.train_seg import load_seg_model

    result = eval_seg(load_seg_model(dirs["seg_model"], device), voc_root=data.root,
                      image_ids=data.val_ids(), out_dir=dirs["seg_pred"],
                      scales=cfg.seg.eval_scales, device=device)
    iou = result.pop("iou")
    atomic_write_bytes(dirs["root"] / "seg_iou.csv", iou.to_csv(index=False).encode())
    result["iou_per_class_pct"] = dict(zip(iou["class"], iou["iou_pct"]))
    result["iou_per_class_msf_pct"] = dict(zip(iou["class"], iou["iou_msf_pct"]))
    save_json(dirs["root"] / "eval_seg.json", result)
    return result


def _to_percent(result: dict[str, Any]) -> dict[str, Any]:
    """eval_cam's fractions as percent, under ``_pct`` names (thresholds stay fractions)."""
    names = {"best_miou": "best_miou_pct", "miou_at_default": "miou_at_default_pct",
             "iou_per_class_at_best": "iou_per_class_at_best_pct"}
    out = {}
    for key, value in result.items():
        if key in names:
            value = ([100 * v for v in value] if isinstance(value, list) else 100 * value)
            key = names[key]
        out[key] = value
    return out


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two parameter dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(dict.fromkeys([*old, *new]))
        return [k for key in keys
                for k in _changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [] if old == new else [prefix.rstrip(".")]


def _ancestors(step: str) -> list[str]:
    seen: list[str] = []
    for dep in DEPENDS[step]:
        for s in [*_ancestors(dep), dep]:
            if s not in seen:
                seen.append(s)
    return seen


def check_upstream(cfg: WSSSConfig, method: str, step: str, data: VOCData,
                   dirs: dict[str, Path]) -> dict[str, str]:
    """The run ids of ``step``'s direct inputs, after checking that every upstream step
    completed with the current parameters.

    Raises ValueError naming the upstream step and its changed keys when its parameters
    changed since it ran (rerun it, e.g. ``--steps <it> ...``), or when it has not completed.
    """
    upstream = {}
    for dep in _ancestors(step):
        marker = _read_marker(dirs["done"] / f"{dep}.json")
        if marker is None:
            raise ValueError(f"step {step!r} of {method!r} needs step {dep!r}, which has not "
                             f"completed under {dirs['root']}; run it first")
        current = _normalize(_step_params(cfg, method, dep, data))
        ran = marker.get("key", {}).get("params", {})
        changed = _changed_keys(ran, current)
        if changed:
            raise ValueError(
                f"step {step!r} of {method!r}: upstream step {dep!r} ran with other parameters "
                f"(changed: {', '.join(changed)}); rerun it (--steps {dep} ...) or restore them")
        if dep in DEPENDS[step]:
            upstream[dep] = marker["run_id"]
    return upstream


def run_step(cfg: WSSSConfig, method: str, step: str, *, data: VOCData | None = None,
             force: bool = False, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or skip, when complete and up to date) one step of ``method``; returns its result."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; steps are {list(STEPS)}")
    echo = echo or log.info
    data = data or prepare_data(cfg)
    dirs = run_dirs(cfg, method)
    dirs["done"].mkdir(parents=True, exist_ok=True)
    upstream = check_upstream(cfg, method, step, data, dirs)
    params = _normalize({"params": _step_params(cfg, method, step, data), "upstream": upstream})
    done_path = dirs["done"] / f"{step}.json"
    started_path = dirs["done"] / f"{step}.started.json"
    done = _read_marker(done_path)
    if (not force and done is not None and done.get("key") == params
            and _outputs_complete(step, dirs, data)):
        echo(f"[{method}] {step}: complete, skipped")
        _record(dirs, step, "skipped (complete)", done)
        return done["result"]
    started = _read_marker(started_path)
    overwrite = force or (started is not None and started.get("key") != params)
    done_path.unlink(missing_ok=True)
    save_json(started_path, {"key": params})
    echo(f"[{method}] {step}: running{' (from scratch)' if overwrite else ''}")
    device = resolve_device(cfg.runtime.device)
    start = time.perf_counter()
    result = _normalize(_execute(step, cfg, method, data, dirs, overwrite, device))
    marker = {"key": params, "result": result, "run_id": uuid.uuid4().hex,
              "seconds": time.perf_counter() - start}
    save_json(done_path, marker)
    _record(dirs, step, "ran", marker)
    report(f"wsss {method} {step}: done in {marker['seconds']:.0f} s")
    return result


def _record(dirs: dict[str, Path], step: str, status: str, marker: dict[str, Any]) -> None:
    """``<method>/steps.json``: per step, what its outputs on disk came from (parameters,
    upstream run ids, run id) and whether the last invocation ran it or skipped it."""
    path = dirs["root"] / "steps.json"
    records = _read_marker(path) or {}
    records[step] = {"status": status, "run_id": marker["run_id"],
                     "params": marker["key"]["params"], "upstream": marker["key"]["upstream"],
                     "seconds": marker.get("seconds"), "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    save_json(path, records)


def run_pipeline(cfg: WSSSConfig, *, steps: Sequence[str] | None = None, force: bool = False,
                 methods: Sequence[str] | None = None,
                 echo: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run ``steps`` (default all) for ``methods`` (default ``cfg.methods``).

    Returns (and writes to ``<work_dir>/summary.csv``) :func:`load_summary`'s table (percent).
    Raises ValueError when a step's upstream step ran with other parameters and is not being
    rerun (:func:`check_upstream`).
    """
    steps = list(steps or STEPS)
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown step(s) {unknown}; steps are {list(STEPS)}")
    steps = [s for s in STEPS if s in steps]  # always in pipeline order
    methods = list(methods or cfg.methods)
    work_dir = Path(cfg.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    data = prepare_data(cfg)
    for method in methods:
        for step in steps:
            run_step(cfg, method, step, data=data, force=force, echo=echo)
    # written once the steps succeeded: every step's own parameters are in <method>/steps.json
    save_json(work_dir / "config.json", cfg.to_dict())
    summary = load_summary(cfg, methods)
    atomic_write_bytes(work_dir / "summary.csv", summary.to_csv(index=False).encode())
    return summary


def load_summary(cfg: WSSSConfig, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """The per-method numbers found on disk, in percent (NaN where a step has not completed).

    Columns: ``cam_miou_pct`` (the headline: CAM mIoU at the method's fixed default
    threshold, IRN 0.15 / official MoANA 0.16), ``cam_threshold`` (that threshold, a fraction),
    ``cam_miou_best_pct`` and ``cam_best_threshold`` (the best of the threshold sweep, picked on
    the evaluated split itself: a curve's optimum, not a held-out number), ``pseudo_mask_miou_pct``
    (random-walk pseudo-masks), ``seg_val_miou_pct`` and ``seg_val_miou_msf_pct`` (the
    segmentation network on val, single-scale and multi-scale + flip), ``crf``.
    """
    rows = []
    for method in methods or cfg.methods:
        dirs = run_dirs(cfg, method)

        def result(step: str) -> dict[str, Any]:
            marker = _read_marker(dirs["done"] / f"{step}.json")
            return (marker or {}).get("result") or {}

        cam, seg, ir, net = (result("eval_cam"), result("eval_sem_seg"), result("ir_label"),
                             result("eval_seg"))
        rows.append({
            "method": method,
            "cam_miou_pct": _num(cam.get("miou_at_default_pct")),
            "cam_threshold": _num(cam.get("default_threshold")),
            "cam_miou_best_pct": _num(cam.get("best_miou_pct")),
            "cam_best_threshold": _num(cam.get("best_threshold")),
            "pseudo_mask_miou_pct": _num(seg.get("miou_pct")),
            "seg_val_miou_pct": _num(net.get("miou_pct")),
            "seg_val_miou_msf_pct": _num(net.get("miou_msf_pct")),
            "crf": ir.get("crf"),
        })
    return pd.DataFrame(rows)


def _num(value: Any) -> float:
    return float(value) if value is not None else np.nan
