"""A training run's directory: the only module that spells its file names.

A run directory (written by :func:`moana.train.fit`) holds::

    config.yaml                 the resolved TrainConfig
    metrics.csv                 one row per epoch (train loss, val metrics, selection)
    final_metrics.json          test metrics of the chosen checkpoint, with its val metrics
    eval_<split>.json           metrics recomputed by ``moana evaluate``
    checkpoints/{best,last}.pt  model weights (best: by the val selection metric)
    manifest.json               provenance: versions, git commit, device, dataset fingerprint

``Run(path)`` reads (and, for the trainer, writes) these; everything else goes through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from moana.engine.files import checkpoint_file
from moana.io import read_json, write_json

CONFIG_FILE = "config.yaml"
METRICS_CSV = "metrics.csv"
FINAL_JSON = "final_metrics.json"
MANIFEST_JSON = "manifest.json"
CHECKPOINT_DIR = "checkpoints"


class Run:
    """One run directory. ``Run(path).config``, ``.load_model()``, ``.history()``, ``.metrics()``.

    Reading methods raise FileNotFoundError naming the missing file; the directory need not
    exist for the trainer's writing side (``write_*``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._config = None

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # ----------------------------------------------------------------------- paths
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def metrics_csv(self) -> Path:
        return self.path / METRICS_CSV

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST_JSON

    @property
    def final_path(self) -> Path:
        return self.path / FINAL_JSON

    def eval_path(self, split: str) -> Path:
        """``eval_<split>.json`` in the run directory."""
        return self.path / f"eval_{split}.json"

    def checkpoint_path(self, which: str = "best") -> Path:
        """``checkpoints/<which>.pt``; ``which`` is ``best`` or ``last``."""
        return checkpoint_file(self.checkpoint_dir, which)

    # ----------------------------------------------------------------------- state
    @property
    def is_run(self) -> bool:
        return self.config_path.is_file()

    @property
    def has_final_metrics(self) -> bool:
        return self.final_path.is_file()

    @property
    def finished(self) -> bool:
        return self.has_final_metrics

    def is_empty(self) -> bool:
        """True if the run directory does not exist or holds no file."""
        return not self.path.exists() or not any(self.path.iterdir())

    # ----------------------------------------------------------------------- reading
    @property
    def config(self):
        """The resolved :class:`moana.train.config.TrainConfig` (cached)."""
        if self._config is None:
            from moana.train.config import load_config

            if not self.is_run:
                raise FileNotFoundError(f"{self.path} is not a run directory (no {CONFIG_FILE})")
            self._config = load_config(self.config_path)
        return self._config

    def config_dict(self) -> dict[str, Any]:
        """``config.yaml`` as plain data (without validating it)."""
        import yaml

        if not self.is_run:
            raise FileNotFoundError(f"{self.path} is not a run directory (no {CONFIG_FILE})")
        try:
            return yaml.safe_load(self.config_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{self.config_path}: not valid YAML ({err})") from err

    def manifest(self) -> dict[str, Any]:
        """``manifest.json``, or ``{}`` when absent."""
        return read_json(self.manifest_path) if self.manifest_path.is_file() else {}

    def final_metrics(self) -> dict[str, Any]:
        """``final_metrics.json`` as written by the trainer (test at top level, val nested)."""
        if not self.has_final_metrics:
            raise FileNotFoundError(f"{self.path}: no {FINAL_JSON} (did the run finish?)")
        return read_json(self.final_path)

    def metrics(self, split: str = "test") -> dict[str, Any]:
        """Metrics on ``split``: ``eval_<split>.json`` if present, else the final metrics.

        For the final metrics' split the val section is dropped and ``test_box_curves`` is
        renamed ``box_curves``; for ``val`` the nested val metrics are returned.
        """
        if self.eval_path(split).is_file():
            return read_json(self.eval_path(split))
        if not self.has_final_metrics:
            raise FileNotFoundError(f"{self.path}: no eval_{split}.json or {FINAL_JSON} "
                                    f"(did the run finish?)")
        data = self.final_metrics()
        if data.get("split") == split:
            out = {k: v for k, v in data.items() if k != "val"}
            if "test_box_curves" in out:
                out["box_curves"] = out.pop("test_box_curves")
            return out
        if isinstance(data.get(split), Mapping):
            return dict(data[split])
        raise ValueError(f"{self.final_path}: no {split!r} section (keys: {sorted(data)})")

    def history(self):
        """``metrics.csv`` as a pandas DataFrame (one row per epoch); empty when absent."""
        import pandas as pd

        return pd.read_csv(self.metrics_csv) if self.metrics_csv.is_file() else pd.DataFrame()

    def selected(self) -> dict[str, Any]:
        """Which checkpoint the test numbers come from: checkpoint, epoch, selection metric."""
        final = self.final_metrics()
        val = final.get("val") or {}
        metric = final.get("selection_metric")
        return {"checkpoint": final.get("checkpoint"), "epoch": final.get("epoch"),
                "selection_metric": metric, "val_score": val.get(metric) if metric else None}

    def load_checkpoint(self, which: str = "best", map_location: Any = "cpu") -> dict[str, Any]:
        """The training checkpoint ``which`` (``best`` or ``last``), loaded with
        ``weights_only=True``.  Raises FileNotFoundError / ValueError (naming the file) when it is
        missing, unreadable or not a moana training checkpoint."""
        from moana.engine.checkpoint import load_checkpoint

        return load_checkpoint(self.checkpoint_path(which), map_location=map_location)

    def load_model(self, which: str = "best", device: Any = "cpu"):
        """The model of checkpoint ``which`` in eval mode on ``device`` (weights checked)."""
        from moana.engine.checkpoint import load_model_weights
        from moana.train.prepare import build_from_config

        state = self.load_checkpoint(which, map_location=device)
        model = build_from_config(self.config, int(state["num_classes"]))
        load_model_weights(model, state, self.checkpoint_path(which))
        return model.to(device).eval()

    # ----------------------------------------------------------------------- writing
    def write_config(self, config) -> None:
        """Save ``config`` (a TrainConfig) as the run's ``config.yaml``, atomically."""
        from moana.train.config import save_config

        save_config(config, self.config_path)
        self._config = None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Write the run's manifest JSON atomically."""
        write_json(self.manifest_path, manifest)

    def write_final(self, metrics: dict[str, Any]) -> None:
        """Write the run's final metrics JSON atomically."""
        write_json(self.final_path, metrics)

    def write_eval(self, split: str, metrics: dict[str, Any]) -> None:
        """Write the metrics of an evaluation on ``split`` to :meth:`eval_path`, atomically."""
        write_json(self.eval_path(split), metrics)

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        """Write the per-epoch rows to the run's ``metrics.csv`` atomically."""
        from moana.train.records import write_metrics_csv

        write_metrics_csv(self.metrics_csv, rows)


def find_runs(runs_root: str | Path) -> list[tuple[str, str, Run]]:
    """(backbone, method, Run) of every ``<backbone>-<method>`` folder under ``runs_root``.

    Raises FileNotFoundError when the folder is missing or holds no runs.
    """
    root = Path(runs_root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} not found: run stage 01_train_wsol first")
    out = []
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir() and "-" in p.name):
        backbone, _, method = run_dir.name.partition("-")
        out.append((backbone, method, Run(run_dir)))
    if not out:
        raise FileNotFoundError(f"no runs under {root}: run stage 01_train_wsol first")
    return out
