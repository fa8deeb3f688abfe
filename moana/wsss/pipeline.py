"""Driver of the WSSS pipeline (IRN, Ahn et al. CVPR 2019, with MoANA CAMs, Sohn et al. 2023).

``run_pipeline(cfg)`` runs, for every method in ``cfg.methods`` ("cam", "moana"), the steps
:data:`STEPS` under ``<work_dir>/<method>/``. Each step is declared once, in :data:`STEP_TABLE`
(name, upstream steps, parameters, outputs, run); dependency order, change detection,
completeness and the run directories (:func:`run_dirs`) are derived from it. Every step writes
its outputs to disk and a marker ``done/<step>.json`` (identity, result, run id) when it
completes. A step's identity is its
parameters, the digests of the files that decide its output (:mod:`moana.wsss.identity`:
image-level labels, ground truth, upstream checkpoints and per-image outputs, images) and its
upstream steps' run ids. A rerun skips a step whose marker matches the current identity and
whose outputs are all present; a step that was interrupted (no marker) is resumed, keeping
per-image files that were already written (they are written atomically), when
``done/<step>.started.json`` records the current identity; otherwise (another identity, or
none recorded) its outputs are removed first, so a step never holds outputs of two
identities. ``force`` redoes the selected steps from scratch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moana.engine.runtime import resolve_device
from moana.io import atomic_write_bytes, to_jsonable
from moana.progress import report
from moana.wsss._io import save_json
from moana.wsss.config import STEPS, WSSSConfig, config_from_dict, load_wsss_config
from moana.wsss.identity import step_inputs

__all__ = ["STEPS", "WSSSConfig", "load_wsss_config", "config_from_dict", "run_pipeline",
           "prepare_data", "VOCData", "run_dirs", "load_summary", "STEP_TABLE", "Step", "Output"]

log = logging.getLogger(__name__)

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


def _synthetic_root(cfg: WSSSConfig) -> Path:
    """``<work_dir>/data``, generated once per ``data.synthetic`` (and seed): a dataset made
    with other knobs is generated again (the steps' input digests then change)."""
    from moana.data.synthetic import make_voc_dataset, voc_dataset_settings

    root = Path(cfg.work_dir) / "data"
    knobs = {"seed": cfg.runtime.seed, **cfg.data.synthetic}
    info = root / "synthetic.json"  # written last by make_voc_dataset
    if info.is_file():
        if _read_marker(info) == _normalize(voc_dataset_settings(**knobs)):
            return root
        log.warning("%s was generated with other data.synthetic knobs; generating it again",
                    root)
        shutil.rmtree(root)
    make_voc_dataset(root, **knobs)
    return root


def prepare_data(cfg: WSSSConfig) -> VOCData:
    """Generate the synthetic VOC data if configured (once), then read lists and labels."""
    from moana.data.voc import load_cls_labels, read_id_list

    data = cfg.data
    if data.synthetic is not None:
        root = _synthetic_root(cfg)
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


@dataclass(frozen=True)
class Output:
    """A file or folder a step writes, ``path`` under ``<work_dir>/<method>/``.

    ``name``: its key in :func:`run_dirs` (None: not listed there). ``required``: the step is
    complete only when it is there: a file, or with ``per_image`` = (suffix, the ids of
    :class:`VOCData` it covers) a folder holding ``<id><suffix>`` for every id.
    """

    path: str
    name: str | None = None
    required: bool = True
    per_image: tuple[str, Callable[[VOCData], list[str]]] | None = None


@dataclass(frozen=True)
class Step:
    """One step of the pipeline, declared once (:data:`STEP_TABLE`).

    ``depends``: the steps whose outputs it reads. ``params(cfg, method, data)``: the
    parameters of its identity (:func:`_step_params` adds the input digests and, for a training
    step, non-default speed settings). ``outputs``: what it writes. ``run(cfg, method, data,
    dirs, overwrite, device)``: runs it, writes its outputs, returns its JSON-able result.
    ``trains``: a training step (its first output is the model; beside it the resumable
    checkpoint folder of :func:`moana.wsss.loop.partial_dir`, which is no output once done).
    """

    name: str
    depends: tuple[str, ...]
    params: Callable[[WSSSConfig, str, VOCData], dict[str, Any]]
    outputs: tuple[Output, ...]
    run: Callable[..., dict[str, Any]]
    trains: bool = False

    def paths(self, dirs: dict[str, Path]) -> list[Path]:
        """Every file or folder the step writes (a training step's checkpoint folder included)."""
        paths = [dirs["root"] / out.path for out in self.outputs]
        if self.trains:
            from moana.wsss.loop import partial_dir

            paths.append(partial_dir(paths[0]))
        return paths

    def complete(self, dirs: dict[str, Path], data: VOCData) -> bool:
        """Whether every required output is on disk (every image's file, for per-image ones)."""
        for out in self.outputs:
            path = dirs["root"] / out.path
            if not out.required:
                continue
            if out.per_image is not None:
                suffix, ids = out.per_image
                if not all((path / f"{i}{suffix}").is_file() for i in ids(data)):
                    return False
            elif not path.is_file():
                return False
        return True


def run_dirs(cfg: WSSSConfig, method: str) -> dict[str, Path]:
    """Where each step of ``method`` writes: ``root``, the named outputs of :data:`STEP_TABLE`
    and ``done`` (the markers)."""
    root = Path(cfg.work_dir) / method
    named = {out.name: root / out.path for step in STEP_TABLE.values() for out in step.outputs
             if out.name is not None}
    return {"root": root, **named, "done": root / "done"}


def _digest(items: Sequence[str]) -> str:
    return hashlib.sha1("\n".join(items).encode()).hexdigest()[:16]


def _speed(cfg: WSSSConfig) -> dict[str, Any]:
    """The training steps' AMP and channels-last settings (``amp``, ``channels_last``)."""
    return {"amp": cfg.runtime.amp, "channels_last": cfg.runtime.channels_last}


def _step_params(cfg: WSSSConfig, method: str, step: str, data: VOCData) -> dict[str, Any]:
    """The step's identity: its parameters and ``inputs``, the digests of the files that
    decide its output (:func:`moana.wsss.identity.step_inputs`)."""
    params = _step(step).params(cfg, method, data)
    params["inputs"] = step_inputs(step, root=data.root, labels=data.cls_labels,
                                   ids=_id_sets(data), dirs=run_dirs(cfg, method))
    if _step(step).trains:
        # recorded only when not the defaults, so markers written before these options existed
        # stay valid
        params.update({k: v for k, v in _speed(cfg).items()
                       if v != {"amp": "none", "channels_last": False}[k]})
    return params


def _id_sets(data: VOCData) -> dict[str, list[str]]:
    return {"train": data.train_ids, "cam": data.cam_ids, "eval": data.eval_ids,
            "sem_seg": data.sem_seg_ids, "seg_train": data.seg_train_ids,
            "seg_val": data.seg_val_ids or []}


def _normalize(value: Any) -> Any:
    return json.loads(json.dumps(to_jsonable(value), default=str))


def _read_marker(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None  # a corrupt marker means the step is not known to be complete


def _clear_outputs(step: str, dirs: dict[str, Path]) -> None:
    """Remove what ``step`` wrote before (a step restarted under another identity)."""
    for path in _step(step).paths(dirs):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


# --- the steps, each declared once: parameters, run, outputs; then the table -------------------

def _train_cam_params(cfg: WSSSConfig, method: str, data: VOCData) -> dict[str, Any]:
    cam = asdict(cfg.cam)
    for key in ("scales", "cam_stride", "num_workers", "cam_bias"):
        cam.pop(key)
    return {"cam": cam, "attention_kw": cfg.attention_kw.get(method, {}), "seed": cfg.runtime.seed,
            "train_ids": _digest(data.train_ids), "root": str(data.root)}


def _train_cam(cfg: WSSSConfig, method: str, data: VOCData, dirs: dict[str, Path],
               overwrite: bool, device: Any) -> dict[str, Any]:
    from moana.wsss.train_cam import train_cam

    return train_cam(cfg.cam, voc_root=data.root, train_ids=data.train_ids,
                     cls_labels=data.cls_labels, method=method,
                     attention_kw=cfg.attention_kw.get(method), out_path=dirs["cam_model"],
                     seed=cfg.runtime.seed, device=device, overwrite=overwrite, **_speed(cfg))


def _make_cam_params(cfg: WSSSConfig, method: str, data: VOCData) -> dict[str, Any]:
    return {"scales": list(cfg.cam.scales), "cam_stride": cfg.cam.cam_stride,
            "cam_bias": cfg.cam.cam_bias, "ids": _digest(data.cam_ids)}


def _make_cam(cfg: WSSSConfig, method: str, data: VOCData, dirs: dict[str, Path],
              overwrite: bool, device: Any) -> dict[str, Any]:
    from moana.wsss.make_cam import make_cams
    from moana.wsss.train_cam import load_cam_model

    model = load_cam_model(dirs["cam_model"], cfg.cam, device)
    start = time.perf_counter()
    count = make_cams(model, voc_root=data.root, image_ids=data.cam_ids,
                      cls_labels=data.cls_labels, out_dir=dirs["cams"],
                      scales=cfg.cam.scales, cam_stride=cfg.cam.cam_stride, device=device,
                      overwrite=overwrite, bias=cfg.cam.cam_bias)
    return {"computed": count, "seconds": time.perf_counter() - start}


def _eval_cam_params(cfg: WSSSConfig, method: str, data: VOCData) -> dict[str, Any]:
    return {"eval": asdict(cfg.eval), "ids": _digest(data.eval_ids)}


def _eval_cam(cfg: WSSSConfig, method: str, data: VOCData, dirs: dict[str, Path],
              overwrite: bool, device: Any) -> dict[str, Any]:
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


def _ir_label_params(cfg: WSSSConfig, method: str, data: VOCData) -> dict[str, Any]:
    params = asdict(cfg.ir_label)
    params.pop("num_workers")
    return {**params, "ids": _digest(data.train_ids)}


def _ir_label(cfg: WSSSConfig, method: str, data: VOCData, dirs: dict[str, Path],
              overwrite: bool, device: Any) -> dict[str, Any]:
    from moana.wsss.ir_label import make_ir_labels, resolve_crf

    use_crf = resolve_crf(cfg.ir_label.crf)
    start = time.perf_counter()
    count = make_ir_labels(dirs["cams"], voc_root=data.root, image_ids=data.train_ids,
                           out_dir=dirs["ir_label"], fg_thres=cfg.ir_label.conf_fg_thres,
                           bg_thres=cfg.ir_label.conf_bg_thres, use_crf=use_crf,
                           crf_scale=cfg.ir_label.crf_scale, overwrite=overwrite,
                           num_workers=cfg.ir_label.num_workers)
    return {"computed": count, "crf": use_crf, "seconds": time.perf_counter() - start}


def _train_irn_params(cfg: WSSSConfig, method: str, data: VOCData) -> dict[str, Any]:
    params = asdict(cfg.irn)
    params.pop("num_workers")
    return {"irn": params, "seed": cfg.runtime.seed, "ids": _digest(data.train_ids)}


def _train_irn(cfg: WSSSConfig, method: str, data: VOCData, dirs: dict[str, Path],
               overwrite: bool, device: Any) -> dict[str, Any]:
    from moana.wsss.irn import train_irn

    return train_irn(cfg.irn, voc_root=data.root, train_ids=data.train_ids,
                     ir_label_dir=dirs["ir_label"], out_path=dirs["irn_model"],
                     seed=cfg.runtime.seed, device=device, overwrite=overwrite, **_speed(cfg))


def _make_sem_seg_params(cfg: WSSSConfig, method: str, data: VOCData) -> dict[str, Any]:
    return {**asdict(cfg.sem_seg), "ids": _digest(data.sem_seg_ids)}


def _make_sem_seg(cfg: WSSSConfig, method: str, data: VOCData, dirs: dict[str, Path],
                  overwrite: bool, device: Any) -> dict[str, Any]:
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


def _eval_sem_seg_params(cfg: WSSSConfig, method: str, data: VOCData) -> dict[str, Any]:
    return {"ids": _digest(data.eval_ids)}


def _eval_sem_seg(cfg: WSSSConfig, method: str, data: VOCData, dirs: dict[str, Path],
                  overwrite: bool, device: Any) -> dict[str, Any]:
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


def _train_seg_params(cfg: WSSSConfig, method: str, data: VOCData) -> dict[str, Any]:
    seg = asdict(cfg.seg)
    # checkpoint_every sets the training loop's epochs (each reseeded), so it is a parameter
    for key in ("eval_scales", "num_workers", "val_list"):
        seg.pop(key)
    return {"seg": seg, "seed": cfg.runtime.seed, "ids": _digest(data.seg_train_ids)}


def _train_seg(cfg: WSSSConfig, method: str, data: VOCData, dirs: dict[str, Path],
               overwrite: bool, device: Any) -> dict[str, Any]:
    """Step 7: DeepLabV3 on the pseudo-masks."""
    from moana.wsss.train_seg import train_seg

    return train_seg(cfg.seg, voc_root=data.root, train_ids=data.seg_train_ids,
                     mask_dir=dirs["sem_seg"], out_path=dirs["seg_model"], seed=cfg.runtime.seed,
                     device=device, overwrite=overwrite, **_speed(cfg))


def _eval_seg_params(cfg: WSSSConfig, method: str, data: VOCData) -> dict[str, Any]:
    return {"scales": list(cfg.seg.eval_scales), "ids": _digest(data.seg_val_ids or [])}


def _eval_seg(cfg: WSSSConfig, method: str, data: VOCData, dirs: dict[str, Path],
              overwrite: bool, device: Any) -> dict[str, Any]:
    """The segmentation network's val mIoU (single-scale and multi-scale + flip)."""
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


def _files(*names: str) -> tuple[Output, ...]:
    return tuple(Output(name) for name in names)


#: The pipeline, one entry per step in pipeline order (a step depends on earlier ones only).
STEP_TABLE: dict[str, Step] = {step.name: step for step in (
    Step("train_cam", (), _train_cam_params, (Output("cam_model.pt", "cam_model"),), _train_cam,
         trains=True),
    Step("make_cam", ("train_cam",), _make_cam_params,
         (Output("cams", "cams", per_image=(".npy", lambda d: d.cam_ids)),), _make_cam),
    Step("eval_cam", ("make_cam",), _eval_cam_params,
         _files("eval_cam.json", "eval_cam_curve.csv"), _eval_cam),
    Step("ir_label", ("make_cam",), _ir_label_params,
         (Output("ir_label", "ir_label", per_image=(".png", lambda d: d.train_ids)),), _ir_label),
    Step("train_irn", ("ir_label",), _train_irn_params, (Output("irn_model.pt", "irn_model"),),
         _train_irn, trains=True),
    Step("make_sem_seg", ("make_cam", "train_irn"), _make_sem_seg_params,
         (Output("sem_seg", "sem_seg", per_image=(".png", lambda d: d.sem_seg_ids)),),
         _make_sem_seg),
    Step("eval_sem_seg", ("make_sem_seg",), _eval_sem_seg_params,
         _files("eval_sem_seg.json", "sem_seg_iou.csv", "sem_seg_confusion.csv"), _eval_sem_seg),
    Step("train_seg", ("make_sem_seg",), _train_seg_params, (Output("seg_model.pt", "seg_model"),),
         _train_seg, trains=True),
    Step("eval_seg", ("train_seg",), _eval_seg_params,
         (*_files("eval_seg.json", "seg_iou.csv"), Output("seg_pred", "seg_pred", required=False)),
         _eval_seg),
)}


def _step(step: str) -> Step:
    if step not in STEP_TABLE:
        raise ValueError(f"unknown step {step!r}; steps are {list(STEPS)}")
    return STEP_TABLE[step]


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
    for dep in _step(step).depends:
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
        if dep in _step(step).depends:
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
            and _step(step).complete(dirs, data)):
        echo(f"[{method}] {step}: complete, skipped")
        _record(dirs, step, "skipped (complete)", done)
        return done["result"]
    started = _read_marker(started_path)
    recorded = (started or done or {}).get("key")
    overwrite = force or recorded != params
    done_path.unlink(missing_ok=True)
    if overwrite:  # outputs of another identity (or of none known) never mix with new ones
        _clear_outputs(step, dirs)
    save_json(started_path, {"key": params})
    scratch = force or recorded is not None and recorded != params
    echo(f"[{method}] {step}: running{' (from scratch)' if scratch else ''}")
    device = resolve_device(cfg.runtime.device)
    start = time.perf_counter()
    result = _normalize(_step(step).run(cfg, method, data, dirs, overwrite, device))
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
    steps = [s for s in STEP_TABLE if s in steps]  # always in pipeline order
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
