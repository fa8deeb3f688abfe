"""Training configurations: plain dataclasses that round-trip through small YAML files.

A config names the data (a wsolevaluation-layout dataset or the synthetic benchmark), the model
(``moana.models.build_model`` arguments), the optimizer (SGD with layer-wise learning rates and a
MultiStepLR schedule, as in the MoANA paper, Sohn et al. 2023) and the evaluation protocol
(wsolevaluation: Choe et al., CVPR 2020). Shipped configs live in ``moana/train/configs`` and are
referred to by name (``smoke_cam``); a YAML file may start from another with ``base: NAME``.
Overrides are ``section.key=value`` strings whose value is parsed as YAML.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


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
    """Arguments of ``moana.models.build_model``; ``num_classes: null`` reads it from the data."""

    arch: str = "resnet50"
    method: str = "moana"
    num_classes: int | None = None
    pretrained: str | bool | None = None
    attention_kw: dict[str, Any] = field(default_factory=dict)
    insert_at: str = "layer4"
    large_feature_map: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """SGD with two learning rates (new layers at ``lr``, pretrained backbone at ``backbone_lr``).

    ``batch_size`` is the global batch: with N processes each one takes ``batch_size / N``.
    """

    epochs: int = 20
    batch_size: int = 256
    lr: float = 0.02
    backbone_lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    milestones: list[int] = field(default_factory=lambda: [5, 10, 15])
    gamma: float = 0.1


@dataclass
class EvalConfig:
    """wsolevaluation's protocol: model selection on val, the test split for the final report.

    ``select_by``: ``auto`` (MaxBoxAccV2 where val has boxes, else PxAP where it has masks, else
    top-1 classification) or one of those names. ``checkpoint``: which checkpoint the final test
    report uses (``best`` by the val selection, or ``last``). ``workers``: processes scoring
    boxes (``moana.metrics.boxes.BoxEvaluator``; results are identical for any number).
    """

    cam_normalization: str = "minmax"
    cam_step: float = 0.001
    iou_thresholds: list[int] = field(default_factory=lambda: [30, 50, 70])
    multi_contour: bool = True
    select_by: str = "auto"
    checkpoint: str = "best"
    batch_size: int | None = None
    every: int = 1
    workers: int = 1


@dataclass
class RuntimeConfig:
    """Seed, device and speed options. ``amp``: ``none`` or ``bf16`` (autocast, GPUs)."""

    seed: int = 0
    device: str = "auto"
    amp: str = "none"
    channels_last: bool = False
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
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def validate(self) -> "TrainConfig":
        """Check values that types alone do not catch; raise ValueError naming the key."""
        o, e, r = self.optim, self.eval, self.runtime
        checks = [
            (o.epochs >= 1, "optim.epochs must be >= 1"),
            (o.batch_size >= 1, "optim.batch_size must be >= 1"),
            (o.lr > 0 and o.backbone_lr >= 0, "optim.lr must be > 0 and optim.backbone_lr >= 0"),
            (list(o.milestones) == sorted(o.milestones), "optim.milestones must be increasing"),
            (r.amp in ("none", "bf16"), f"runtime.amp must be 'none' or 'bf16', got {r.amp!r}"),
            (e.checkpoint in ("best", "last"), "eval.checkpoint must be 'best' or 'last'"),
            (e.select_by in ("auto", "MaxBoxAccV2", "MaxBoxAcc", "PxAP", "top1_cls"),
             f"eval.select_by must be auto, MaxBoxAccV2, MaxBoxAcc, PxAP or top1_cls, "
             f"got {e.select_by!r}"),
            (0 < e.cam_step < 1, "eval.cam_step must be in (0, 1)"),
            (e.every >= 1, "eval.every must be >= 1"),
            (e.workers >= 1, "eval.workers must be >= 1"),
            (self.data.crop_size <= self.data.resize_size,
             "data.crop_size must not exceed data.resize_size"),
            (set(self.data.splits) >= {"train", "val", "test"},
             "data.splits must name the train, val and test splits"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        return self


SECTIONS: dict[str, type] = {
    "data": DataConfig, "model": ModelConfig, "optim": OptimConfig,
    "eval": EvalConfig, "runtime": RuntimeConfig,
}


def available_configs() -> list[str]:
    """Names of the configs shipped with the package."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


# --------------------------------------------------------------------------- YAML helpers


def _key_lines(node: yaml.Node, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """1-based line of every mapping key (dotted path) in a composed YAML document."""
    lines: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (str(key_node.value),)
            lines[path] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, path))
    return lines


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    try:
        text = path.read_text()
    except OSError as err:
        raise FileNotFoundError(f"cannot read config {path}: {err}") from err
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ValueError(f"{where}: invalid YAML: {getattr(err, 'problem', err)}") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}:1: a config must be a mapping of sections, got "
                         f"{type(data).__name__}")
    return data, _key_lines(node) if node is not None else {}


def _resolve_path(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    candidate = Path(name_or_path)
    if relative_to is not None and not candidate.is_absolute():
        near = relative_to / candidate
        if near.is_file():
            return near
        if near.with_suffix(".yaml").is_file():
            return near.with_suffix(".yaml")
    if candidate.is_file():
        return candidate
    shipped = CONFIG_DIR / f"{candidate.name.removesuffix('.yaml')}.yaml"
    if candidate.parent == Path(".") and shipped.is_file():
        return shipped
    raise FileNotFoundError(
        f"config {str(name_or_path)!r} is neither a file nor a shipped config; shipped: "
        f"{', '.join(available_configs())}")


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key in SECTIONS:
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_layers(path: Path, seen: tuple[Path, ...] = ()
                 ) -> tuple[dict[str, Any], dict[tuple[str, ...], tuple[Path, int]]]:
    """The merged mapping of a config and its ``base`` chain, and where each key came from."""
    if path.resolve() in seen:
        raise ValueError(f"{path}: 'base' chain loops back to itself")
    data, lines = _read_yaml(path)
    origin = {key: (path, line) for key, line in lines.items()}
    base_name = data.pop("base", None)
    if base_name is None:
        return data, origin
    if not isinstance(base_name, str):
        raise ValueError(f"{path}:{lines.get(('base',), 1)}: 'base' must be a config name")
    base_path = _resolve_path(base_name, relative_to=path.parent)
    base_data, base_origin = _load_layers(base_path, seen + (path.resolve(),))
    base_origin.update(origin)
    return _merge(base_data, data), base_origin


# --------------------------------------------------------------------------- type coercion


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against a dataclass field's type hint (with a few YAML-friendly casts)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if hint is Any:
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint) or (Any,)
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{where}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # PyYAML reads 5e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"{where}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{where}: expected a string, got {value!r}")
    return value


def _build_section(cls: type, values: Any, section: str,
                   where: typing.Callable[[tuple[str, ...]], str]) -> Any:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"{where((section,))}: section {section!r} must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        key = unknown[0]
        raise ValueError(f"{where((section, key))}: unknown key {section}.{key}; "
                         f"known keys: {', '.join(sorted(names))}")
    kwargs = {k: _coerce(v, hints[k], f"{where((section, k))}: {section}.{k}")
              for k, v in values.items()}
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any],
                     where: typing.Callable[[tuple[str, ...]], str] | None = None
                     ) -> TrainConfig:
    """Build a TrainConfig from plain data; errors name the key (and file:line via ``where``)."""
    where = where or (lambda key: "config")
    top_names = {"name", "description"} | set(SECTIONS)
    unknown = sorted(set(data) - top_names)
    if unknown:
        raise ValueError(f"{where((unknown[0],))}: unknown top-level key {unknown[0]!r}; "
                         f"known: {', '.join(sorted(top_names))}")
    kwargs: dict[str, Any] = {}
    for key in ("name", "description"):
        if key in data:
            kwargs[key] = _coerce(data[key], str, f"{where((key,))}: {key}")
    for section, cls in SECTIONS.items():
        kwargs[section] = _build_section(cls, data.get(section), section, where)
    return TrainConfig(**kwargs)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (value parsed as YAML) to a config mapping."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for text in overrides:
        if "=" not in text:
            raise ValueError(f"override {text!r} must look like section.key=value")
        key, raw = text.split("=", 1)
        parts = key.strip().split(".")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as err:
            raise ValueError(f"override {text!r}: value is not valid YAML: {err}") from err
        if len(parts) == 1 and parts[0] in ("name", "description"):
            out[parts[0]] = value
            continue
        if len(parts) < 2 or parts[0] not in SECTIONS:
            raise ValueError(f"override {text!r}: key must be name, description or "
                             f"<section>.<key> with section in {', '.join(SECTIONS)}")
        names = {f.name for f in dataclasses.fields(SECTIONS[parts[0]])}
        if parts[1] not in names:
            raise ValueError(f"override {text!r}: unknown key {parts[0]}.{parts[1]}; "
                             f"known keys: {', '.join(sorted(names))}")
        node = out.setdefault(parts[0], {})
        for part in parts[1:-1]:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, dict) else {}
            node = node[part]
        node[parts[-1]] = value
    return out


def load_config(name_or_path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Load a shipped config by name (``smoke_cam``) or a YAML file, then apply overrides.

    Errors name the file and line of the offending key (or the override string).
    """
    path = _resolve_path(name_or_path)
    data, origin = _load_layers(path)
    overridden = {tuple(o.split("=", 1)[0].strip().split(".")) for o in overrides or []}

    def where(key: tuple[str, ...]) -> str:
        if key in overridden:
            return "override"
        if key in origin:
            file, line = origin[key]
            return f"{file}:{line}"
        return str(path)

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
