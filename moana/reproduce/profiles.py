"""Reproduction profiles: the parameters each notebook stage runs with.

``smoke`` runs the whole paper pipeline (Sohn et al., "MoANA", Sci. Rep. 2023) on the synthetic
benchmark in minutes on a laptop CPU; ``paper`` runs the real datasets (CUB-200-2011 in the
wsolevaluation layout of Choe et al., CVPR 2020, and PASCAL VOC 2012) at the paper's settings on
a GPU. A profile is plain data: ``{stage: {parameter: value}}`` plus ``common`` entries given to
every stage. Notebooks keep their own defaults (equal to ``smoke``) so they also run by hand.

The work dir (datasets, runs, checkpoints) is laid out by :class:`WorkLayout`; stage 00 writes
``data.json`` there to tell later stages where the data lives.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moana.io import atomic_write_text

STAGES: tuple[str, ...] = (
    "00_data_prep",
    "01_train_wsol",
    "02_ablations",
    "03_attention_maps",
    "04_wsss_pseudo_masks",
    "05_tables_and_figures",
)

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "common": {"profile": "smoke", "seed": 0, "device": "cpu"},
        "00_data_prep": {
            "dataset": "synthetic",
            # num_classes, image_size, per_class: None = the smoke_cam config's data.synthetic
            # (the one place the smoke dataset's size is written)
            "num_classes": None,
            "image_size": None,
            "per_class": None,
            "voc_synthetic": None,  # the WSSS smoke config's data.synthetic knobs
        },
        "01_train_wsol": {
            "backbones": ["small"],
            # vanilla CAM, two wsolevaluation methods known to spread the CAM, and MoANA
            "methods": ["cam", "has", "adl", "moana"],
            "config_template": "smoke_{method}",
            "epochs": None,  # the config's own (10)
            # a tiny search (wsolevaluation's protocol on val) so make reproduce exercises the
            # path: 4 trials of 3 epochs each (no decay), then the best config trained once
            "search_methods": ["cam", "moana"],
            "search_trials": 4,
            "search_sampler": "random",
            "search_epochs": 3,
            "search_overrides": [],
        },
        "02_ablations": {
            # the variants that answer the paper's questions (the channel view alone, the
            # spatial views without it, the coarse attention baselines) and the benchmark's
            # controls, 5 paired seeds on stage 00's benchmark, to stay in the smoke budget;
            # the paper profile runs every variant
            "variants": ["cam", "moana", "axes=c", "axes=hw", "se", "cbam", "has",
                         "cam+mark_hidden"],
            "seeds": [0, 1, 2, 3, 4],
            "config": "smoke_moana",
            "epochs": None,  # the config's own (10)
            "ablation_data": None,  # stage 00's benchmark
            "workers": 2,
            "cost_arch": "resnet50",  # ratios measured at a reduced input size to stay in budget
            "cost_image_size": 112,
            "cost_repeats": 2,
        },
        "03_attention_maps": {
            "backbone": "small",
            "methods": ["cam", "moana"],
            "num_images": 16,
        },
        "04_wsss_pseudo_masks": {
            "wsss_config": "smoke",
            "methods": ["cam", "moana"],
        },
        "05_tables_and_figures": {},
    },
    "paper": {
        "common": {"profile": "paper", "seed": 0, "device": "cuda"},
        "00_data_prep": {
            "dataset": "CUB",
            "data_root": "data",  # relative paths: to the directory moana reproduce runs in
            "metadata_root": "data/metadata",
            "voc_root": "data/VOC2012",
        },
        "01_train_wsol": {
            "backbones": ["resnet50", "vgg16", "inception_v3"],
            # wsolevaluation's six methods (Choe et al., CVPR 2020) and MoANA
            "methods": ["cam", "has", "acol", "spg", "adl", "cutmix", "moana"],
            "config_template": "cub_{backbone}_{method}",
            "epochs": None,  # None: the shipped config's epochs
            # every method searched on train-fullsup before its searched run, 30 random trials
            # per config (moana.search.study), trials at the shipped schedule
            "search_methods": ["cam", "has", "acol", "spg", "adl", "cutmix", "moana"],
            "search_trials": 30,
            "search_sampler": "random",
            "search_epochs": None,
            "search_overrides": [],
        },
        "02_ablations": {
            "variants": None,
            "seeds": [0, 1, 2],
            "config": "cub_resnet50_moana",
            "epochs": None,
            "ablation_data": None,  # the real dataset of stage 00
            "cost_arch": "resnet50",
            "workers": 1,
            "cost_image_size": 224,
            "cost_repeats": 20,
        },
        "03_attention_maps": {
            "backbone": "resnet50",
            "methods": ["cam", "moana"],
            "num_images": 16,
        },
        "04_wsss_pseudo_masks": {
            "wsss_config": "paper",
            "methods": ["cam", "moana"],
        },
        "05_tables_and_figures": {},
    },
}

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
