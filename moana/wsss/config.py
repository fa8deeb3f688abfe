"""Configuration of the WSSS pipeline (IRN defaults, Ahn et al. CVPR 2019; MoANA Sci. Rep. 2023).

Plain dataclasses <-> YAML. ``load_wsss_config("smoke" | "paper" | path, overrides)`` reads a
shipped profile (``moana/wsss/configs/<name>.yaml``) or a file, then applies ``key.sub=value``
overrides (values parsed as YAML). A file may start from another with ``base: NAME``. The YAML
machinery (line numbers in errors, ``base``, list -> tuple casts) is the shared :mod:`moana.config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moana.config import (Locator, apply_overrides, build_dataclass, load_layers, locator,
                          override_keys, resolve_config_path, to_plain_dict)
from moana.engine.config import RuntimeConfig  # one runtime section for WSOL training and WSSS

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

#: The pipeline's steps in run order (defined here, light, for the CLI's ``--steps`` choices).
STEPS: tuple[str, ...] = ("train_cam", "make_cam", "eval_cam", "ir_label", "train_irn",
                          "make_sem_seg", "eval_sem_seg", "train_seg", "eval_seg")


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
    # backbone BN running statistics frozen while training (IRN's FixedBatchNorm); their affine
    # parameters stay trainable in the stages that are trained
    freeze_bn: bool = False
    # IRN (and the official MoANA code) never train conv1..layer2 (features detached after
    # stage 2): "layer3" = IRN; "conv1" trains the whole backbone (a departure)
    train_from: str = "layer3"
    scales: tuple[float, ...] = (1.0, 0.5, 1.5, 2.0)
    # IRN's CAM is relu(conv(features, classifier.weight)) without the bias (also the official
    # MoANA code); true adds the trained bias (a departure)
    cam_bias: bool = False
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
    # auto (use pydensecrf2 when importable) | on | off; YAML 1.1 reads bare on/off as booleans
    crf: str | bool = "auto"
    crf_scale: float = 1.0  # x IRN's CRF kernel widths (3, 50 px for ~500 px images)
    # processes making IR labels (one pool per run): null = one per CPU; 0 or 1 = the main one
    num_workers: int | None = None


@dataclass
class IRNConfig:
    """Step 5a: the boundary branch of IRN trained on inter-pixel relation labels."""

    backbone: str = "resnet50"  # resnet50 | resnet18 | small
    pretrained: str | None = None  # torchvision state_dict file for the backbone
    freeze_backbone: bool = True  # IRN keeps the (ImageNet) backbone frozen
    crop_size: int = 512
    rescale: tuple[float, float] = (0.5, 1.5)  # IRN: random rescale, PIL bicubic
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
    # the image is zero-padded to this square before the boundary network (IRN's
    # EdgeDisplacement crop size, 512); null: no padding (a departure)
    pad_size: int | None = 512


@dataclass
class SegConfig:
    """Step 7: DeepLabV3 trained on the pseudo-masks (moana.wsss.train_seg / eval_seg)."""

    backbone: str = "resnet101"  # resnet50 | resnet101 | small
    pretrained: str | None = None  # local ImageNet ResNet state_dict (never downloaded)
    train_list: str | None = None  # default: data.train_list (train_aug)
    val_list: str = "val"
    crop_size: int = 513
    scale_range: tuple[float, float] = (0.5, 2.0)
    batch_size: int = 16
    iterations: int = 30000
    lr: float = 0.007
    head_lr_mult: float = 1.0
    momentum: float = 0.9
    weight_decay: float = 1e-4
    # iterations between resumable checkpoints (0: none); also the training loop's epoch length
    # (each epoch reseeded), so it changes the trained weights
    checkpoint_every: int = 1000
    eval_scales: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)  # multi-scale + flip
    num_workers: int = 0


@dataclass
class WSSSConfig:
    """The whole pipeline; one sub-config per step."""

    name: str = "wsss"
    work_dir: str = "runs/wsss"
    methods: tuple[str, ...] = ("cam", "moana")
    attention_kw: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"moana": {"calibration": "wsss"}})
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    data: DataConfig = field(default_factory=DataConfig)
    cam: CamConfig = field(default_factory=CamConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ir_label: IRLabelConfig = field(default_factory=IRLabelConfig)
    irn: IRNConfig = field(default_factory=IRNConfig)
    sem_seg: SemSegConfig = field(default_factory=SemSegConfig)
    seg: SegConfig = field(default_factory=SegConfig)

    def to_dict(self) -> dict[str, Any]:
        """The config as nested plain dicts/lists (YAML/JSON ready)."""
        return to_plain_dict(self)


_plain = to_plain_dict  # former private name, kept for callers


def _key_label(key: tuple[str, ...]) -> str:
    section = ".".join(key[:-1])
    return f"key {key[-1]!r}" + (f" in {section}" if section else "")


def _build_config(data: dict[str, Any], where: Locator) -> WSSSConfig:
    # strict, as the training configs: a value of the wrong type is an error naming the file
    # and line of its key (or the override); numeric strings such as 1e-2 become floats
    cfg = build_dataclass(WSSSConfig, data, where=where, key_label=_key_label)
    _check_sizes(cfg, where)
    return cfg


#: sizes (pixels, >= 1) and scale factors (> 0) every step needs at least one pixel from
_SIZES = (("cam", "crop_size"), ("cam", "resize_long"), ("cam", "cam_stride"),
          ("irn", "crop_size"), ("seg", "crop_size"), ("sem_seg", "pad_size"))
_SCALES = (("cam", "scales"), ("irn", "rescale"), ("seg", "scale_range"), ("seg", "eval_scales"))


def _check_sizes(cfg: WSSSConfig, where: Locator) -> None:
    """Refuse a size below one pixel or a scale factor <= 0 (ValueError naming the key)."""
    for keys, least, what in ((_SIZES, 1, "pixel sizes >= 1"), (_SCALES, 0, "scales > 0")):
        for section, name in keys:
            value = getattr(getattr(cfg, section), name)
            values = value if isinstance(value, (tuple, list)) else (value,)
            bad = [v for v in values if v is not None and not (v > least if least == 0
                                                                  else v >= least)]
            if bad or (least == 0 and not values):
                raise ValueError(f"{where((section, name))}: {section}.{name} must hold {what}, "
                                 f"got {value!r}")


def config_from_dict(data: dict[str, Any], where: str = "config") -> WSSSConfig:
    """Build a :class:`WSSSConfig`; unknown keys raise ValueError naming ``where``."""
    return _build_config(data, locator(where))


def load_wsss_config(name_or_path: str | Path, overrides: list[str] | None = None) -> WSSSConfig:
    """Read ``smoke``/``paper`` (shipped) or a YAML path; apply ``a.b=value`` overrides.

    A file may start from another with ``base: NAME`` (shipped name or a file next to it);
    errors name the file and line of the offending key.
    """
    path = resolve_config_path(name_or_path, CONFIG_DIR, what="WSSS config")
    data, origin = load_layers(path, CONFIG_DIR, schema=WSSSConfig)
    where = locator(str(path), origin, override_keys(overrides or []))
    data = apply_overrides(data, overrides or [])
    return _build_config(data, where)
