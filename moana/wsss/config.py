"""Configuration of the WSSS pipeline (IRN defaults, Ahn et al. CVPR 2019; MoANA Sci. Rep. 2023).

Plain dataclasses <-> YAML. ``load_wsss_config("smoke" | "paper" | path, overrides)`` reads a
shipped profile (``moana/wsss/configs/<name>.yaml``) or a file, then applies ``key.sub=value``
overrides (values parsed as YAML).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass
class DataConfig:
    """Where the VOC-format data lives. ``synthetic`` (kwargs of make_voc_dataset) generates it."""

    voc_root: str | None = None  # VOC2012 root (JPEGImages, SegmentationClass, ImageSets, ...)
    synthetic: dict[str, Any] | None = None  # generate under <work_dir>/data with these kwargs
    cls_labels: str = "cls_labels.npy"  # relative to voc_root (or absolute)
    train_list: str = "train_aug"  # IRN train_list: CAM/IRN training, CAMs, IR labels
    infer_list: str = "train"  # IRN infer_list: pseudo-masks are made for these images
    eval_list: str | None = None  # CAMs and pseudo-masks evaluated here (default: infer_list)
    max_images: int | None = None  # cap every list (debugging)


@dataclass
class CamConfig:
    """Step 1-2: CAM network training and multi-scale inference (IRN train_cam / make_cam)."""

    arch: str = "resnet50"
    output_stride: int = 16
    pretrained: str | None = None  # passed to build_model (ImageNet weights path or name)
    crop_size: int = 512
    resize_long: tuple[int, int] = (320, 640)
    batch_size: int = 16
    epochs: int = 5
    lr: float = 0.1
    classifier_lr_mult: float = 10.0  # new layers (MoANA + classifier) at lr x this
    weight_decay: float = 1e-4
    momentum: float = 0.0  # IRN's PolyOptimizer is plain SGD
    freeze_bn: bool = False  # backbone BN in eval mode while training (IRN, pretrained backbone)
    scales: tuple[float, ...] = (1.0, 0.5, 1.5, 2.0)
    cam_stride: int = 4  # the low-res "cam" is saved at this stride (IRN: 4)
    num_workers: int = 0


@dataclass
class EvalConfig:
    """Step 3: background-threshold sweep of CAM mIoU (IRN eval_cam)."""

    thresholds: tuple[float, float, float] = (0.0, 0.60, 0.01)  # start, stop (incl.), step
    default_threshold: dict[str, float] = field(
        default_factory=lambda: {"cam": 0.15, "moana": 0.16})


@dataclass
class IRLabelConfig:
    """Step 4: confident fg/bg maps, CRF-refined (IRN cam_to_ir_label)."""

    conf_fg_thres: float = 0.30
    conf_bg_thres: float = 0.05
    crf: str = "auto"  # auto (use pydensecrf2 when importable) | on | off
    crf_scale: float = 1.0  # x IRN's CRF kernel widths (3, 50 px for ~500 px images)
    num_workers: int = 0


@dataclass
class IRNConfig:
    """Step 5a: the boundary branch of IRN trained on inter-pixel relation labels."""

    backbone: str = "resnet50"  # resnet50 | resnet18 | small
    pretrained: str | None = None  # torchvision state_dict file for the backbone
    freeze_backbone: bool = True  # IRN keeps the (ImageNet) backbone frozen
    crop_size: int = 512
    resize_long: tuple[int, int] = (320, 640)
    batch_size: int = 32
    epochs: int = 3
    lr: float = 0.1
    weight_decay: float = 1e-4
    momentum: float = 0.0  # IRN: plain SGD (a from-scratch smoke backbone needs momentum)
    radius: int = 10  # pairs within this radius at feature stride 4 (IRN PathIndex)
    num_workers: int = 0


@dataclass
class SemSegConfig:
    """Step 5b: random walk of CAMs on the IRN affinities (IRN make_sem_seg_labels)."""

    beta: float = 10.0
    exp_times: int = 8
    radius: int = 5
    bg_thres: float = 0.25


@dataclass
class WSSSConfig:
    """The whole pipeline; one sub-config per step."""

    name: str = "wsss"
    work_dir: str = "runs/wsss"
    methods: tuple[str, ...] = ("cam", "moana")
    attention_kw: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"moana": {"calibration": "wsss"}})
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    data: DataConfig = field(default_factory=DataConfig)
    cam: CamConfig = field(default_factory=CamConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ir_label: IRLabelConfig = field(default_factory=IRLabelConfig)
    irn: IRNConfig = field(default_factory=IRNConfig)
    sem_seg: SemSegConfig = field(default_factory=SemSegConfig)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    """Tuples -> lists so that the dict dumps to plain YAML/JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise ValueError(f"{where}: unknown key {key!r}; known keys: {sorted(fields)}")
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            kwargs[key] = _build(type(default), value or {}, f"{where}.{key}")
        elif isinstance(default, tuple) and value is not None:
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"{where}.{key}: expected a list, got {value!r}")
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any], where: str = "config") -> WSSSConfig:
    """Build a :class:`WSSSConfig`; unknown keys raise ValueError naming ``where``."""
    return _build(WSSSConfig, data, where)


def _apply_override(data: dict[str, Any], override: str) -> None:
    if "=" not in override:
        raise ValueError(f"override {override!r} is not of the form key.sub=value")
    key, text = override.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"override {override!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(text)


def load_wsss_config(name_or_path: str | Path, overrides: list[str] | None = None) -> WSSSConfig:
    """Read ``smoke``/``paper`` (shipped) or a YAML path; apply ``a.b=value`` overrides."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"WSSS config {name_or_path!r} not found (shipped: {shipped})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: invalid YAML: {err}") from err
    for override in overrides or []:
        _apply_override(data, override)
    return config_from_dict(data, where=str(path))
