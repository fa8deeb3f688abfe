"""Search spaces as data: which config keys a hyperparameter search samples, from what range,
and where each range comes from.

A space is a YAML file in ``moana/train/configs/search/`` (or any path)::

    base: cam                      # optional: another space (or a list), merged first
    description: ...
    params:
      lr:                          # the name Optuna records
        sets: optim.backbone_lr    # one config key, or a list of keys set to the same value
        float: [1.0e-5, 1.0]       # or  int: [low, high]  or  choices: [a, b, ...]
        log: true                  # log-uniform (float/int only)
        source: wsolevaluation config.py --lr; range chosen here
      classifier_ratio:
        sets: optim.lr
        times: lr                  # the key gets value * (the value of param ``lr``)
        choices: [1, 10, 100]
        source: ...

Every parameter needs ``sets`` and a ``source``. Errors name the file and the line.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moana.config import load_layers, locator, resolve_config_path

__all__ = ["Param", "SearchSpace", "SPACE_DIR", "available_spaces", "default_space",
           "load_space", "override_text"]

SPACE_DIR = Path(__file__).resolve().parents[1] / "train" / "configs" / "search"
_KINDS = ("float", "int", "choices")
_FIELDS = {"sets", "source", "log", "times", *_KINDS}


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: its distribution and the config keys it sets."""

    name: str
    keys: tuple[str, ...]
    kind: str  # float | int | choices
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    times: str | None = None
    source: str = ""

    def suggest(self, trial: Any) -> Any:
        """The value drawn for ``trial`` (an ``optuna.Trial``)."""
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_categorical(self.name, list(self.choices))

    def example(self) -> Any:
        """A value inside the range (to check the keys against a config before searching)."""
        if self.kind == "choices":
            return self.choices[0]
        return int(self.low) if self.kind == "int" else float(self.low)


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of one search, in the order they are drawn."""

    name: str
    path: Path
    params: tuple[Param, ...]
    description: str = ""

    def overrides(self, values: dict[str, Any]) -> list[str]:
        """``key=value`` config overrides for drawn ``values`` (``{param name: value}``)."""
        out = []
        for p in self.params:
            value = values[p.name]
            if p.times is not None:
                value = value * values[p.times]
            out += [f"{key}={override_text(value)}" for key in p.keys]
        return out

    def suggest(self, trial: Any) -> list[str]:
        """Draw every parameter for ``trial``; returns the config overrides."""
        return self.overrides({p.name: p.suggest(trial) for p in self.params})

    def examples(self) -> list[str]:
        """Overrides of one in-range value per parameter."""
        return self.overrides({p.name: p.example() for p in self.params})

    def digest(self) -> str:
        """A hash of the parameters (names, ranges, keys), to tell two spaces apart."""
        data = [[p.name, p.keys, p.kind, p.low, p.high, p.log, list(p.choices), p.times]
                for p in self.params]
        return hashlib.sha256(json.dumps(data, default=str).encode()).hexdigest()[:16]

    def table(self) -> list[dict[str, Any]]:
        """One row per parameter: name, keys, range, scale, source (for docs and notebooks)."""
        rows = []
        for p in self.params:
            rng = (list(p.choices) if p.kind == "choices" else [p.low, p.high])
            rows.append({"param": p.name, "sets": ", ".join(p.keys)
                         + (f" (x {p.times})" if p.times else ""),
                         "range": rng, "scale": "log" if p.log else p.kind, "source": p.source})
        return rows


def override_text(value: Any) -> str:
    """A value as YAML text that reads back as the same value (``1e-05`` -> ``1.0e-05``: YAML
    1.1 reads an exponent without a dot as a string)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, (int, str)):
        return str(value)
    return json.dumps(value)


def available_spaces() -> list[str]:
    """Names of the shipped search spaces."""
    return sorted(p.stem for p in SPACE_DIR.glob("*.yaml"))


def default_space(config_name: str, method: str) -> str:
    """The shipped space of a config: ``search/<config name>.yaml`` if there is one, else
    ``search/<method>.yaml``. Raises FileNotFoundError listing the shipped spaces."""
    for name in (config_name, method):
        if (SPACE_DIR / f"{name}.yaml").is_file():
            return name
    raise FileNotFoundError(f"no search space for config {config_name!r} (method {method!r}); "
                            f"shipped: {', '.join(available_spaces())}; pass --space FILE")


def _param(name: str, spec: Any, where: str) -> Param:
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: parameter {name!r} must be a mapping")
    unknown = set(spec) - _FIELDS
    kinds = [k for k in _KINDS if k in spec]
    if unknown:
        raise ValueError(f"{where}: parameter {name!r}: unknown field(s) {sorted(unknown)}; "
                         f"expected {sorted(_FIELDS)}")
    if len(kinds) != 1:
        raise ValueError(f"{where}: parameter {name!r} needs exactly one of float, int, choices")
    keys = spec.get("sets")
    keys = [keys] if isinstance(keys, str) else keys
    if not keys or not all(isinstance(k, str) and "." in k for k in keys):
        raise ValueError(f"{where}: parameter {name!r}: 'sets' must name config keys "
                         f"(section.key), got {spec.get('sets')!r}")
    if not isinstance(spec.get("source"), str) or not spec["source"].strip():
        raise ValueError(f"{where}: parameter {name!r} needs a 'source' (where the range comes "
                         f"from, or 'chosen here')")
    kind, log = kinds[0], spec.get("log", False)
    if not isinstance(log, bool):
        raise ValueError(f"{where}: parameter {name!r}: 'log' must be true or false")
    common = dict(name=name, keys=tuple(keys), kind=kind, times=spec.get("times"),
                  source=spec["source"].strip(), log=log)
    if kind == "choices":
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices or log:
            raise ValueError(f"{where}: parameter {name!r}: 'choices' must be a non-empty list "
                             f"(and takes no 'log')")
        return Param(**common, choices=tuple(choices))
    bounds = spec[kind]
    numeric = (int,) if kind == "int" else (int, float)
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(isinstance(b, numeric) and not isinstance(b, bool) for b in bounds)
            or not all(math.isfinite(b) for b in bounds) or not bounds[0] < bounds[1]
            or (log and bounds[0] <= 0)):
        raise ValueError(f"{where}: parameter {name!r}: {kind!r} must be [low, high] with "
                         f"low < high{' and low > 0 (log)' if log else ''}, got {bounds!r}")
    return Param(**common, low=bounds[0], high=bounds[1])


def load_space(name_or_path: str | Path) -> SearchSpace:
    """Load a shipped space by name (``cam``) or a YAML file (merged over its ``base``)."""
    path = resolve_config_path(name_or_path, SPACE_DIR, what="search space")
    data, origin = load_layers(path, SPACE_DIR)
    where = locator(str(path), origin, set())
    unknown = set(data) - {"params", "description"}
    if unknown:
        key = sorted(unknown)[0]
        raise ValueError(f"{where((key,))}: unknown top-level key {key!r}; expected params, "
                         f"description, base")
    params = data.get("params")
    if not isinstance(params, dict) or not params:
        raise ValueError(f"{where(('params',))}: a search space needs a non-empty 'params' "
                         f"mapping")
    parsed = [_param(str(n), spec, where(("params", n))) for n, spec in params.items()]
    names = [p.name for p in parsed]
    for p in parsed:
        if p.times is not None and (p.times not in names or names.index(p.times) >= names.index(p.name)):
            raise ValueError(f"{where(('params', p.name, 'times'))}: 'times' must name a "
                             f"parameter listed before {p.name!r}, got {p.times!r}")
    return SearchSpace(path.stem, path, tuple(parsed), str(data.get("description", "")))
