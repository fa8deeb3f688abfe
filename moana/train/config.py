"""Training configurations: plain dataclasses that round-trip through small YAML files.

A config names the data (a wsolevaluation-layout dataset or the synthetic benchmark), the model
(``moana.models.build_model`` arguments), the optimizer (SGD with two learning-rate groups and a
MultiStepLR schedule, by the recipe of wsolevaluation or of the official MoANA code,
:mod:`moana.train.recipe`) and the evaluation protocol (wsolevaluation: Choe et al., CVPR 2020). Shipped configs live in ``moana/train/configs`` and are
referred to by name (``smoke_cam``). A YAML file composes others with ``base: NAME`` or
``base: [A, B, ...]``: the paper configs are a few lines over the pieces in
``moana/train/configs/_base_/`` (datasets, models, methods, schedules, runtime), which are not
configs on their own (docs/training.md, "How configs compose").
Overrides are ``section.key=value`` strings whose value is parsed as YAML. The YAML machinery
(line numbers in errors, ``base``, type coercion) is the shared :mod:`moana.config`.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from moana.config import apply_overrides as _apply_overrides
from moana.config import (build_dataclass, list_configs, load_layers, locator, override_keys,
                          resolve_config_path, to_plain_dict)
from moana.engine.config import RuntimeConfig

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
#: Pieces the shipped configs compose with a list-valued ``base:`` (datasets, models, methods,
#: schedules, runtime); not configs on their own.
PIECES_DIR = CONFIG_DIR / "_base_"


@dataclass
class DataConfig:
    """Where the images and metadata are, and how they are resized.

    ``dataset`` is ``synthetic`` or a wsolevaluation name (CUB, ILSVRC, OpenImages). For real
    data ``data_root`` holds ``<DATASET>/`` and ``metadata_root`` (default
    ``<data_root>/metadata``) holds ``<DATASET>/<split>/``. For ``synthetic``, ``data_root`` is
    the generated benchmark's folder; it is generated with ``synthetic`` (knobs passed to
    ``moana.data.synthetic.make_wsol_dataset``) and the run seed when it does not exist.
    """

    dataset: str = "synthetic"
    data_root: str = "data/synthetic_wsol"
    metadata_root: str | None = None
    mask_root: str | None = None
    resize_size: int = 256
    crop_size: int = 224
    image_size: int = 224
    num_workers: int = 4
    splits: dict[str, str] = field(
        default_factory=lambda: {"train": "train", "val": "val", "test": "test"})
    synthetic: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """Arguments of ``moana.models.build_model``; ``num_classes: null`` reads it from the data.

    ``method_kw``: options of the WSOL method (passed to ``build_model`` and to
    ``moana.methods.batch_augmentation``; each validates the keys that concern it).
    """

    arch: str = "resnet50"
    method: str = "moana"
    num_classes: int | None = None
    pretrained: str | bool | None = None
    attention_kw: dict[str, Any] = field(default_factory=dict)
    method_kw: dict[str, Any] = field(default_factory=dict)  # WSOL method options (moana.methods)
    insert_at: str = "layer4"
    large_feature_map: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """SGD with two learning rates (the 10x group at ``lr``, the rest at ``backbone_lr``).

    ``recipe`` (``kit``, ``wsolevaluation`` or ``official_moana``) decides which parameters are
    in which group, Nesterov when ``nesterov`` is null, and the new layers' initialisation
    (:mod:`moana.train.recipe`). ``lr_decay_frequency``: wsolevaluation's ``lr_decay_frequency``
    (its decay epochs replace ``milestones``, which must then be empty); else MultiStepLR at
    ``milestones``, stepped after each epoch. ``batch_size`` is the global batch: with N
    processes each one takes ``batch_size / N``.
    """

    epochs: int = 20
    batch_size: int = 256
    lr: float = 0.02
    backbone_lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool | None = None
    milestones: list[int] = field(default_factory=lambda: [5, 10, 15])
    gamma: float = 0.1
    recipe: str = "kit"
    lr_decay_frequency: int | None = None


@dataclass
class EvalConfig:
    """wsolevaluation's protocol: model selection on val, the test split for the final report.

    ``select_by``: ``auto`` (MaxBoxAccV2 where val has boxes, else PxAP where it has masks, else
    top-1 classification) or one of those names. ``checkpoint``: which checkpoint the final test
    report uses (``last``, as wsolevaluation's protocol and its published tables, or ``best`` by
    the val selection). ``preset``: ``wsolevaluation`` or ``official_moana`` sets
    ``cam_normalization``, ``cam_step`` and ``multi_contour`` to that reference's evaluation
    (:data:`EVAL_PRESETS`); null leaves them as written. ``workers``: processes scoring
    boxes (``moana.metrics.boxes.BoxEvaluator``; results are identical for any number).
    """

    cam_normalization: str = "minmax"
    cam_step: float = 0.001
    iou_thresholds: list[int] = field(default_factory=lambda: [30, 50, 70])
    multi_contour: bool = True
    select_by: str = "auto"
    checkpoint: str = "last"
    batch_size: int | None = None
    every: int = 1
    workers: int = 1
    preset: str | None = None


#: Evaluation presets: wsolevaluation ``config.py`` / ``inference.py`` (CAM curve interval 0.001,
#: all contours, min-max) and ku-milab/MoANA ``Localization/configs/config.json`` /
#: ``evaluation.py`` (interval 0.01, the largest contour, the 65th-percentile shift).
EVAL_PRESETS: dict[str, dict[str, Any]] = {
    "wsolevaluation": {"cam_normalization": "minmax", "cam_step": 0.001, "multi_contour": True},
    "official_moana": {"cam_normalization": "moana_official", "cam_step": 0.01,
                       "multi_contour": False},
}


@dataclass
class TrainRuntimeConfig(RuntimeConfig):
    """:class:`RuntimeConfig` plus what only WSOL training reads: deterministic kernels, quiet
    logging and the folder of its runs."""

    deterministic: bool = False
    quiet: bool = False
    output_dir: str = "runs"


@dataclass
class TrainConfig:
    """A whole training run (see the section classes)."""

    name: str = "run"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    runtime: TrainRuntimeConfig = field(default_factory=TrainRuntimeConfig)

    def to_dict(self) -> dict[str, Any]:
        """The config as nested plain dicts/lists (YAML/JSON ready)."""
        return to_plain_dict(self)

    def to_yaml(self) -> str:
        """The config as YAML text, keys in definition order."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def validate(self) -> "TrainConfig":
        """Check values that types alone do not catch; raise ValueError naming the key."""
        o, e, r = self.optim, self.eval, self.runtime
        checks = [
            (o.epochs >= 1, "optim.epochs must be >= 1"),
            (o.batch_size >= 1, "optim.batch_size must be >= 1"),
            (o.lr > 0 and o.backbone_lr >= 0, "optim.lr must be > 0 and optim.backbone_lr >= 0"),
            (list(o.milestones) == sorted(o.milestones), "optim.milestones must be increasing"),
            (o.recipe in ("kit", "wsolevaluation", "official_moana"),
             f"optim.recipe must be kit, wsolevaluation or official_moana, got {o.recipe!r}"),
            (o.lr_decay_frequency is None or (o.lr_decay_frequency >= 1 and not o.milestones),
             "optim.lr_decay_frequency must be >= 1 and comes with optim.milestones=[]"),
            (e.preset in (None, *EVAL_PRESETS),
             f"eval.preset must be null or one of {list(EVAL_PRESETS)}, got {e.preset!r}"),
            (r.amp in ("none", "bf16"), f"runtime.amp must be 'none' or 'bf16', got {r.amp!r}"),
            (e.checkpoint in ("best", "last"), "eval.checkpoint must be 'best' or 'last'"),
            (e.select_by in ("auto", "MaxBoxAccV2", "MaxBoxAcc", "PxAP", "top1_cls"),
             f"eval.select_by must be auto, MaxBoxAccV2, MaxBoxAcc, PxAP or top1_cls, "
             f"got {e.select_by!r}"),
            (0 < e.cam_step < 1, "eval.cam_step must be in (0, 1)"),
            (e.every >= 1, "eval.every must be >= 1"),
            (e.workers >= 1, "eval.workers must be >= 1"),
            (min(self.data.image_size, self.data.crop_size, self.data.resize_size) >= 1,
             "data.image_size, data.crop_size and data.resize_size must be >= 1 (pixels; "
             f"got {self.data.image_size}, {self.data.crop_size}, {self.data.resize_size})"),
            (self.data.crop_size <= self.data.resize_size,
             "data.crop_size must not exceed data.resize_size"),
            (set(self.data.splits) >= {"train", "val", "test"},
             "data.splits must name the train, val and test splits"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if e.preset is not None:
            for key, value in EVAL_PRESETS[e.preset].items():
                setattr(e, key, value)
        return self


SECTIONS: dict[str, type] = {
    "data": DataConfig, "model": ModelConfig, "optim": OptimConfig,
    "eval": EvalConfig, "runtime": TrainRuntimeConfig,
}


def available_configs() -> list[str]:
    """Names of the configs shipped with the package."""
    return list_configs(CONFIG_DIR)


def _key_label(key: tuple[str, ...]) -> str:
    return f"key {'.'.join(key)}" if len(key) > 1 else f"top-level key {key[0]!r}"


def config_from_dict(data: dict[str, Any],
                     where: typing.Callable[[tuple[str, ...]], str] | None = None
                     ) -> TrainConfig:
    """Build a TrainConfig from plain data; errors name the key (and file:line via ``where``)."""
    return build_dataclass(TrainConfig, data, where=where, key_label=_key_label)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (value parsed as YAML) to a config mapping."""
    return _apply_overrides(data, overrides, schema=TrainConfig)


def load_config(name_or_path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Load a shipped config by name (``smoke_cam``) or a YAML file, then apply overrides.

    Errors name the file and line of the offending key (or the override string).
    """
    path = resolve_config_path(name_or_path, CONFIG_DIR)
    if PIECES_DIR.resolve() in path.resolve().parents:
        raise ValueError(f"{path}: a piece to compose with 'base: [...]', not a training config "
                         f"(see moana config list)")
    data, origin = load_layers(path, CONFIG_DIR, schema=TrainConfig)
    where = locator(str(path), origin, override_keys(overrides or []))
    data = apply_overrides(data, list(overrides or []))
    data.setdefault("name", path.stem)
    config = config_from_dict(data, where)
    try:
        return config.validate()
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def save_config(config: TrainConfig, path: Path | str) -> None:
    """Write the resolved config as YAML, atomically."""
    from moana.io import atomic_write_text

    atomic_write_text(Path(path), config.to_yaml())
