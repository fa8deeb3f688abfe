"""Glue between the work dir and the tables/figures: where the data is, what the runs wrote.

Stage 00 records the data locations in ``<work_dir>/data.json`` (:func:`moana.profiles.
save_data_info`); later notebooks turn that into dataset objects and training-config overrides
here, and read the run folders written by :func:`moana.train.fit` (``config.yaml``,
``metrics.csv``, ``final_metrics.json``, ``eval_<split>.json``) into DataFrames.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moana.data.metadata import WSOLMetadata, load_wsol_metadata

SPLITS = ("train", "val", "test")


# ------------------------------------------------------------------------------------ data
def synthetic_info(wsol: Any, voc_root: Path | None) -> dict[str, Any]:
    """data.json entries for the synthetic benchmark (``SyntheticWSOL`` from moana.data)."""
    root = Path(wsol.data_root).parent
    return {
        "dataset": "synthetic", "synthetic": True, "benchmark_root": str(root),
        "image_root": str(wsol.data_root), "metadata_dir": str(wsol.metadata_root),
        "mask_root": str(wsol.data_root), "num_classes": int(wsol.num_classes),
        "voc_root": str(voc_root) if voc_root else None,
        "synthetic_knobs": {k: wsol.config[k] for k in ("seed", "num_classes", "image_size", "per_class")
                            if k in wsol.config},
    }


def real_info(dataset: str, data_root: str | Path, metadata_root: str | Path | None,
              voc_root: str | Path | None) -> dict[str, Any]:
    """data.json entries for a real dataset in the wsolevaluation layout (checked to exist)."""
    from moana.data.wsol import dataset_paths

    image_root, split_dir = dataset_paths(data_root, dataset, "test", metadata_root=metadata_root)
    if not image_root.is_dir():
        raise FileNotFoundError(f"{image_root} not found: put the {dataset} images there "
                                f"(data_root={data_root}; see README, 'Real data')")
    for split in SPLITS:
        folder = split_dir.parent / split
        if not folder.is_dir():
            raise FileNotFoundError(f"metadata split folder {folder} not found")
    voc = Path(voc_root) if voc_root else None
    if voc is not None and not (voc / "JPEGImages").is_dir():
        raise FileNotFoundError(f"{voc / 'JPEGImages'} not found (voc_root={voc_root})")
    return {
        "dataset": dataset, "synthetic": False, "data_root": str(Path(data_root).resolve()),
        "metadata_root": str(Path(metadata_root).resolve()) if metadata_root else None,
        "image_root": str(image_root.resolve()), "metadata_dir": str(split_dir.parent.resolve()),
        "mask_root": str(image_root.resolve()), "voc_root": str(voc.resolve()) if voc else None,
    }


def load_split(info: Mapping[str, Any], split: str) -> WSOLMetadata:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return load_wsol_metadata(Path(info["metadata_dir"]) / split)


def wsol_dataset(info: Mapping[str, Any], split: str, *, image_size: int = 224) -> Any:
    """A test-transform :class:`moana.data.wsol.WSOLDataset` of one split."""
    from moana.data.wsol import WSOLDataset

    return WSOLDataset(info["image_root"], load_split(info, split), train=False,
                       image_size=image_size, mask_root=info.get("mask_root"))


def train_data_overrides(info: Mapping[str, Any]) -> list[str]:
    """``data.*`` overrides that point a :mod:`moana.train` config at the prepared data."""
    if info.get("synthetic"):
        knobs = json.dumps(info.get("synthetic_knobs", {}))
        return ["data.dataset=synthetic", f"data.data_root={info['benchmark_root']}",
                f"data.synthetic={knobs}"]
    out = [f"data.dataset={info['dataset']}", f"data.data_root={info['data_root']}"]
    if info.get("metadata_root"):
        out.append(f"data.metadata_root={info['metadata_root']}")
    return out


def dataset_summary(info: Mapping[str, Any]) -> pd.DataFrame:
    """Images, classes, boxes and masks per split."""
    rows = []
    for split in SPLITS:
        meta = load_split(info, split)
        boxes = [len(meta.boxes.get(i, [])) for i in meta.image_ids]
        rows.append({
            "split": split, "images": len(meta), "classes": len(set(meta.class_labels.values())),
            "boxes_per_image": float(np.mean(boxes)) if boxes else 0.0,
            "images_with_masks": sum(1 for i in meta.image_ids if meta.masks.get(i)),
        })
    return pd.DataFrame(rows)


def voc_summary(voc_root: str | Path) -> pd.DataFrame:
    """Images per list and class frequency (train list) of a VOC-layout tree."""
    from moana.data.voc import VOC_CLASSES, load_cls_labels, read_id_list

    root = Path(voc_root)
    labels = load_cls_labels(root / "cls_labels.npy")
    rows = []
    for name, path in (("train", root / "ImageSets/Segmentation/train.txt"),
                       ("val", root / "ImageSets/Segmentation/val.txt"),
                       ("train_aug", root / "train_aug.txt")):
        if not path.is_file():
            continue
        ids = read_id_list(path)
        present = np.stack([labels[i] for i in ids if i in labels]) if ids else np.zeros((0, 20))
        row: dict[str, Any] = {"list": name, "images": len(ids),
                               "objects_per_image": float(present.sum(1).mean()) if len(present) else 0.0}
        row.update({c: int(present[:, k].sum()) for k, c in enumerate(VOC_CLASSES)})
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ runs
def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from err


def run_metrics(run_dir: str | Path, split: str = "test") -> dict[str, Any]:
    """A run's metrics on ``split``: ``eval_<split>.json`` or ``final_metrics.json[split]``."""
    run_dir = Path(run_dir)
    path = run_dir / f"eval_{split}.json"
    if path.is_file():
        return _read_json(path)
    final = run_dir / "final_metrics.json"
    if not final.is_file():
        raise FileNotFoundError(f"{run_dir}: no eval_{split}.json or final_metrics.json (did the run finish?)")
    data = _read_json(final)
    if data.get("split") == split:  # moana.train.fit: test metrics at top level, val nested
        out = {k: v for k, v in data.items() if k != "val"}
        if "test_box_curves" in out:
            out["box_curves"] = out.pop("test_box_curves")
        return out
    if isinstance(data.get(split), Mapping):
        return dict(data[split])
    raise ValueError(f"{final}: no {split!r} section (keys: {sorted(data)})")


def run_history(run_dir: str | Path) -> pd.DataFrame:
    """``metrics.csv`` of a run (one row per epoch); empty when absent."""
    path = Path(run_dir) / "metrics.csv"
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


def find_runs(runs_root: str | Path) -> list[tuple[str, str, Path]]:
    """(backbone, method, run_dir) of every ``<backbone>-<method>`` run folder under runs_root."""
    root = Path(runs_root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} not found: run stage 01_train_wsol first")
    out = []
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir() and "-" in p.name):
        backbone, _, method = run_dir.name.partition("-")
        out.append((backbone, method, run_dir))
    if not out:
        raise FileNotFoundError(f"no runs under {root}: run stage 01_train_wsol first")
    return out


def box_curves(metrics: Mapping[str, Any], *, step: float | None = None) -> pd.DataFrame:
    """Long table (threshold, iou, box_acc) from a metrics dict's box curves."""
    curves = metrics.get("box_curves") or metrics.get("curves")
    if not curves:
        raise ValueError("metrics hold no box curves ('box_curves')")
    thresholds = metrics.get("thresholds")
    rows = []
    for iou, values in curves.items():
        values = np.asarray(values, dtype=float)
        grid = (np.asarray(thresholds, dtype=float) if thresholds is not None
                else np.arange(len(values)) * (step if step else 1.0 / len(values)))
        rows.append(pd.DataFrame({"threshold": grid, "iou": int(iou), "box_acc": values}))
    return pd.concat(rows, ignore_index=True)


def run_config(run_dir: str | Path) -> dict[str, Any]:
    """A run's resolved ``config.yaml`` as a plain dict."""
    import yaml

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.yaml)")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from err


def cam_step(run_dir: str | Path, default: float = 0.001) -> float:
    """``eval.cam_step`` of a run's resolved ``config.yaml``."""
    return float((run_config(run_dir).get("eval") or {}).get("cam_step", default))


def load_run_model(run_dir: str | Path, which: str = "best") -> tuple[Any, Any]:
    """(model in eval mode on the CPU, resolved TrainConfig) of a finished :func:`moana.train.fit` run."""
    from moana.train.checkpoint import load_checkpoint, load_model_weights
    from moana.train.config import load_config
    from moana.train.fit import build_from_config

    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.yaml)")
    config = load_config(config_path)
    path = run_dir / "checkpoints" / f"{which}.pt"
    state = load_checkpoint(path, map_location="cpu")
    model = build_from_config(config, int(state["num_classes"]))
    load_model_weights(model, state, path)
    return model.eval(), config


# ------------------------------------------------------------------------------------ WSSS
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
            ious = _read_json(cam_json).get("iou_per_class_at_best", [])
            rows += [{"method": method, "stage": "CAM", "class": names[k], "iou": 100.0 * float(v)}
                     for k, v in enumerate(ious) if v is not None and not np.isnan(float(v))]
        seg_csv = root / "sem_seg_iou.csv"
        if seg_csv.is_file():
            seg = pd.read_csv(seg_csv).dropna(subset=["iou"])
            rows += [{"method": method, "stage": "pseudo mask", "class": str(c), "iou": 100.0 * float(v)}
                     for c, v in zip(seg["class"], seg["iou"])]
    return pd.DataFrame(rows, columns=["method", "stage", "class", "iou"])


def wsss_examples(cfg: Any, methods: list[str], image_ids: list[str]
                  ) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """Images and label maps (ground truth, each method's CAM at its best threshold and its
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
        best = _read_json(dirs["root"] / "eval_cam.json").get("best_threshold", 0.15)
        cams = []
        for i, gt in zip(image_ids, masks["ground truth"]):
            cam = load_cam(dirs["cams"], i)
            high = cam["high_res"] if len(cam["keys"]) else np.zeros((0, *gt.shape), np.float32)
            cams.append(cam_to_label(high, cam["keys"], best))
        masks[f"{method} CAM"] = cams
        masks[f"{method} pseudo mask"] = [load_png(dirs["sem_seg"] / f"{i}.png") for i in image_ids]
    return images, masks
