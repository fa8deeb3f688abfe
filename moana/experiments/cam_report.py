"""The cross-method localization tables of stage 05 (notebooks/05_tables_and_figures): the
stage-01 runs x CAM methods on their synthetic WSOL split, and an ImageNet classifier x CAM
methods on the real-photo set with its qualitative figure (:mod:`moana.experiments.cam_table`,
the numbers ``moana evaluate-cams`` prints).

Each table comes with its label (what the numbers are measured on) and the ``moana
evaluate-cams`` command that regenerates it, with paths relative to the repository's ``work/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class CamTable:
    """A models x methods table, its label, the command that regenerates it and, for the photo
    set, the test score maps (``{method: (N, 224, 224)}``) of its first model."""

    table: pd.DataFrame
    label: str
    command: str
    maps: dict[str, Any] | None = None


def _frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame of :data:`~moana.experiments.cam_table.COLUMNS`, without the
    columns that are empty in every row (no masks: PxAP; no val split: the val-selected ones)."""
    from moana.experiments.cam_table import COLUMNS

    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    return frame.dropna(axis=1, how="all")


def _command(args: Sequence[str], methods: Sequence[str], output: str) -> str:
    return " ".join(["moana evaluate-cams", *args, "--methods", *methods, "--output", output])


def runs_cam_table(run_dirs: Sequence[str | Path], methods: Sequence[str], *,
                   work_dir: str | Path, device: str = "cpu") -> CamTable:
    """``methods`` (the kit's CAM and post-hoc ones) on the runs at ``run_dirs`` (stage 01's,
    inside ``work_dir``), on the split of the first run's config: threshold chosen on val,
    applied to test. FileNotFoundError naming the first missing run."""
    from moana.experiments.cam_table import evaluate_cams
    from moana.experiments.evaluate_cams import config_split, run_localizer
    from moana.train.run import Run
    from moana.engine.runtime import resolve_device

    dirs = [Path(d) for d in run_dirs]
    if not dirs:
        raise ValueError("no runs given for the CAM-methods table")
    for d in dirs:
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: run not found (run stage 01_train_wsol first)")
    config = Run(dirs[0]).config
    torch_device = resolve_device(device)
    split, data = config_split(config, torch_device)
    localizers = [run_localizer(d, data, torch_device) for d in dirs]
    rows = evaluate_cams(localizers, methods, split)
    root = Path(work_dir).resolve()
    relative = [f"work/{d.resolve().relative_to(root).as_posix()}" for d in dirs]
    command = _command(["--run", *relative], methods, "work/cam_table_synthetic")
    return CamTable(_frame(rows), split.label, command)


def photo_cam_table(model: str, methods: Sequence[str], *, device: str = "cpu") -> CamTable:
    """``methods`` of the ImageNet classifier ``model`` (``efficientnet_lite0``: its packaged
    weights; :mod:`moana.models.zoo`) on the real-photo set, map of the top-1 class, oracle
    threshold only (no val split); keeps each method's score maps for the figure."""
    from moana.experiments.cam_table import evaluate_cams, zoo_localizer
    from moana.experiments.evaluate_cams import photo_split
    from moana.models.zoo import zoo_model
    from moana.engine.runtime import resolve_device

    split = photo_split(resolve_device(device))
    loc = zoo_localizer(zoo_model(model))
    maps: dict = {}
    rows = evaluate_cams([loc], methods, split, maps_out=maps)
    command = _command(["--photos", "--model", model], methods, "work/cam_table_photos")
    return CamTable(_frame(rows), split.label, command,
                    maps={method: maps[(loc.name, method)] for method in methods})


def photo_cam_figure(result: CamTable, model: str):
    """The photos x methods figure of :func:`photo_cam_table`'s maps
    (:func:`moana.experiments.photos.photo_figure`)."""
    from moana.experiments.photos import photo_figure

    if not result.maps:
        raise ValueError("this table kept no score maps (photo_cam_table keeps them)")
    return photo_figure(result.maps, model)
