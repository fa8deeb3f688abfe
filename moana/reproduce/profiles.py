"""Reproduction profiles: the parameters each notebook stage runs with.

``smoke`` runs the whole paper pipeline (Sohn et al., "MoANA", Sci. Rep. 2023) on the synthetic
benchmark in minutes on a laptop CPU; ``paper`` runs the real datasets (CUB-200-2011 in the
wsolevaluation layout of Choe et al., CVPR 2020, and PASCAL VOC 2012) at the paper's settings on
a GPU. A profile is plain data: ``{stage: {parameter: value}}`` plus ``common`` entries given to
every stage, read from ``presets/<profile>.yaml`` by :func:`load_profile` (each parameter typed,
errors naming the file and line). Notebooks keep their own defaults (equal to ``smoke``) so they
also run by hand.

The work dir (datasets, runs, checkpoints) is laid out by :class:`WorkLayout`; stage 00 writes
``data.json`` there to tell later stages where the data lives.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moana.config import build_dataclass, load_layers, locator, resolve_config_path
from moana.io import atomic_write_text

STAGES: tuple[str, ...] = (
    "00_data_prep",
    "01_train_wsol",
    "02_ablations",
    "03_attention_maps",
    "04_wsss_pseudo_masks",
    "05_tables_and_figures",
)

PRESET_DIR = Path(__file__).resolve().parent / "presets"
"""The shipped profiles, ``presets/<name>.yaml``."""


@dataclass
class CommonParameters:
    """Parameters every stage receives."""

    profile: str = "smoke"
    seed: int = 0
    device: str = "cpu"


@dataclass
class DataPrepParameters:
    """Stage 00: which dataset, where; null sizes take the smoke configs' own."""

    dataset: str = "synthetic"
    data_root: str | None = None
    metadata_root: str | None = None
    voc_root: str | None = None
    num_classes: int | None = None
    image_size: int | None = None
    per_class: dict[str, int] | None = None
    voc_synthetic: dict[str, Any] | None = None


@dataclass
class TrainWSOLParameters:
    """Stage 01: the backbone x method grid, its config names and the hyperparameter search."""

    backbones: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    config_template: str = "smoke_{method}"
    epochs: int | None = None
    search_methods: list[str] = field(default_factory=list)
    search_trials: int = 0
    search_sampler: str = "random"
    search_epochs: int | None = None
    search_overrides: list[str] = field(default_factory=list)


@dataclass
class AblationParameters:
    """Stage 02: the ablation variants, paired seeds and the cost measurement."""

    variants: list[str] | None = None
    seeds: list[int] = field(default_factory=list)
    config: str = "smoke_moana"
    epochs: int | None = None
    ablation_data: dict[str, Any] | None = None
    workers: int = 1
    cost_arch: str = "resnet50"
    cost_image_size: int = 224
    cost_repeats: int = 1


@dataclass
class AttentionMapParameters:
    """Stage 03: the backbone, methods and number of images shown."""

    backbone: str = "small"
    methods: list[str] = field(default_factory=list)
    num_images: int = 16
    demo: bool = False


@dataclass
class WSSSParameters:
    """Stage 04: the WSSS config and the methods compared."""

    wsss_config: str = "smoke"
    methods: list[str] = field(default_factory=list)


@dataclass
class TablesParameters:
    """Stage 05: the CAM-methods table (stage-01 runs x CAM sources) and the real-photo table."""

    cam_backbone: str = "small"
    cam_runs: list[str] = field(default_factory=list)
    cam_methods: list[str] = field(default_factory=list)
    photo_model: str = "efficientnet_lite0"
    photo_methods: list[str] = field(default_factory=list)


#: the schema of each section of a profile file
SECTIONS: dict[str, type] = {
    "common": CommonParameters,
    "00_data_prep": DataPrepParameters,
    "01_train_wsol": TrainWSOLParameters,
    "02_ablations": AblationParameters,
    "03_attention_maps": AttentionMapParameters,
    "04_wsss_pseudo_masks": WSSSParameters,
    "05_tables_and_figures": TablesParameters,
}


def _key_label(key: tuple[str, ...]) -> str:
    return f"parameter {key[-1]!r} of {key[0]}" if len(key) > 1 else f"section {key[0]!r}"


def load_profile(name_or_path: str | Path) -> dict[str, dict[str, Any]]:
    """A profile, ``{section: {parameter: value}}``, from ``presets/<name>.yaml`` or a path.

    Sections are ``common`` and the stage names; each parameter is checked against its
    section's dataclass (:data:`SECTIONS`): an unknown section or parameter, or a value of the
    wrong type, is a ValueError naming the file and line. Only the parameters the file sets are
    returned (a stage's notebook keeps its own default for the others). A file may start from
    a shipped profile with ``base: NAME``; its sections are merged over that profile's,
    parameter by parameter.
    """
    path = resolve_config_path(name_or_path, PRESET_DIR, what="profile")
    data, origin = load_layers(path, PRESET_DIR)
    where = locator(str(path), origin)
    unknown = sorted(set(map(str, data)) - set(SECTIONS))
    if unknown:
        raise ValueError(f"{where((unknown[0],))}: unknown {_key_label((unknown[0],))}; "
                         f"known sections: {', '.join(SECTIONS)}")
    profile: dict[str, dict[str, Any]] = {}
    for section, values in data.items():
        built = build_dataclass(SECTIONS[section], values, where=where, prefix=(section,),
                                key_label=_key_label)
        profile[section] = {key: getattr(built, key) for key in (values or {})}
    return profile


#: The shipped profiles, ``{profile: {section: {parameter: value}}}`` (``presets/*.yaml``).
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    name: load_profile(name) for name in ("smoke", "paper")}

#: parameters that name user data; relative values are taken from the caller's working directory
PATH_PARAMETERS = ("data_root", "metadata_root", "voc_root")


def stage_name(key: str) -> str:
    """Resolve ``"03"``, ``"3"``, ``"03_attention_maps"`` or ``"attention_maps"`` to a stage."""
    key = key.strip()
    for stage in STAGES:
        number, _, title = stage.partition("_")
        if key in (stage, title) or (key.isdigit() and int(key) == int(number)):
            return stage
    raise ValueError(f"unknown stage {key!r}; choose from {', '.join(STAGES)}")


def stage_parameters(
    profile: str,
    stage: str,
    *,
    work_dir: str | Path,
    output_dir: str | Path,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Parameters papermill injects into ``stage`` for ``profile``.

    ``overrides`` maps ``name`` (every stage) or ``stage.name`` / ``NN.name`` (one stage) to a
    value; they win over the profile.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    stage = stage_name(stage)
    preset = PROFILES[profile]
    params: dict[str, Any] = copy.deepcopy(preset["common"])
    params.update(copy.deepcopy(preset.get(stage, {})))
    params["work_dir"] = str(work_dir)
    params["output_dir"] = str(output_dir)
    for key, value in (overrides or {}).items():
        target, dot, name = key.rpartition(".")
        if not dot:
            params[key] = value
        elif stage_name(target) == stage:
            params[name] = value
    for key in PATH_PARAMETERS:
        value = params.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            params[key] = str(Path(value).resolve())
    return params


def parse_override(text: str) -> tuple[str, Any]:
    """``"01.epochs=1"`` -> ``("01.epochs", 1)``; the value is read as YAML (lists, numbers)."""
    import yaml

    key, eq, raw = text.partition("=")
    if not eq or not key.strip():
        raise ValueError(f"parameter override {text!r} must look like NAME=VALUE or STAGE.NAME=VALUE")
    key = key.strip()
    target, dot, _ = key.rpartition(".")
    if dot:
        stage_name(target)  # raises for an unknown stage
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ValueError(f"parameter override {text!r}: value is not valid YAML ({err})") from err
    return key, value


@dataclass(frozen=True)
class WorkLayout:
    """Where the stages keep intermediate artefacts under the work dir (never under results/)."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def data_info(self) -> Path:
        return self.root / "data.json"

    @property
    def wsol_runs(self) -> Path:
        return self.root / "runs" / "wsol"

    @property
    def wsol_searched_runs(self) -> Path:
        """Runs of the best config of each search, ``<root>/runs/wsol_searched/<b>-<m>``."""
        return self.root / "runs" / "wsol_searched"

    @property
    def wsol_search(self) -> Path:
        """Hyperparameter searches, ``<root>/search/wsol/<backbone>-<method>``."""
        return self.root / "search" / "wsol"

    @property
    def ablation_runs(self) -> Path:
        return self.root / "runs" / "ablations"

    @property
    def wsss(self) -> Path:
        return self.root / "wsss"

    def wsol_run(self, backbone: str, method: str) -> Path:
        """The run directory of a WSOL run, ``<wsol_runs>/<backbone>-<method>``."""
        return self.wsol_runs / f"{backbone}-{method}"


def work_layout(work_dir: str | Path) -> WorkLayout:
    """The :class:`WorkLayout` (datasets, runs, checkpoints folders) of ``work_dir``."""
    return WorkLayout(Path(work_dir))


def save_data_info(work_dir: str | Path, info: dict[str, Any]) -> Path:
    """Record where stage 00 put (or found) the data, atomically, as ``<work_dir>/data.json``."""
    path = work_layout(work_dir).data_info
    plain = {k: str(v) if isinstance(v, Path) else v for k, v in info.items()}
    return atomic_write_text(path, json.dumps(plain, indent=2))


def load_data_info(work_dir: str | Path) -> dict[str, Any]:
    """Read ``<work_dir>/data.json``; a clear error when stage 00 has not run."""
    path = work_layout(work_dir).data_info
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: run stage 00_data_prep first "
            "(moana reproduce --only 00, or the notebook notebooks/00_data_prep.ipynb)"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from err
