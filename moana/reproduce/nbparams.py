"""The numbered notebooks' ``parameters`` cells: declared names and types, and the check that
``moana reproduce`` runs on every value it is about to inject, before the first notebook starts.

A parameters cell declares ``name: type = default  # meaning`` (papermill reads it without a
kernel). A ``-p`` override must name a declared parameter of its stage (a stage-less override:
of at least one selected stage) and hold a value of the declared type; a value that does not
fit is refused with the valid names and the expected type, instead of running and failing later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: declared type name -> the Python types a YAML value of it may have
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
    "list": (list, tuple), "dict": (dict,),
}


def declared_parameters(notebook: str | Path) -> dict[str, dict[str, Any]]:
    """``{name: {"type": "int" | ... | None, "default": source text, "help": comment}}`` of the
    notebook's cell tagged ``parameters`` (papermill's parser; empty when it has none)."""
    import papermill as pm

    found = pm.inspect_notebook(str(notebook))
    return {name: {"type": p.get("inferred_type_name") if p.get("inferred_type_name") != "None"
                   else None, "default": p.get("default"), "help": p.get("help") or ""}
            for name, p in found.items()}


def type_error(name: str, value: Any, declared: Mapping[str, Any], *,
               allow_none: bool = False) -> str | None:
    """Why ``value`` does not fit the declared parameter (None when it fits). ``None`` is
    accepted where the default is ``None`` (or with ``allow_none``); an int is never taken for a
    bool or vice versa."""
    kind = declared.get("type")
    if kind not in _TYPES:
        return None
    if value is None:
        return None if allow_none or str(declared.get("default")).strip() == "None" else (
            f"{name} expects {kind}, got None")
    ok = isinstance(value, _TYPES[kind]) and not (kind in ("int", "float") and isinstance(value, bool))
    return None if ok else f"{name} expects {kind}, got {type(value).__name__} {value!r}"


def check_overrides(declared: Mapping[str, Mapping[str, Mapping[str, Any]]],
                    overrides: Mapping[str, Any], stage_of: Any) -> None:
    """Refuse overrides that name no declared parameter or hold a value of the wrong type.

    ``declared``: stage -> :func:`declared_parameters` of the selected stages; ``overrides``:
    ``NAME`` or ``STAGE.NAME`` -> value; ``stage_of`` resolves a stage key (``"01"``) to a
    stage name. Raises ValueError naming the override, the stage, the valid names and the
    expected type."""
    for key, value in overrides.items():
        target, dot, name = key.rpartition(".")
        stages = [stage_of(target)] if dot else list(declared)
        stages = [s for s in stages if s in declared]
        if dot and not stages:
            continue  # a stage that is not selected in this run
        having = [s for s in stages if name in declared[s]]
        if not having:
            where = (f"{stages[0]} has no parameter" if len(stages) == 1
                     else "no selected stage has a parameter")
            valid = sorted({n for s in stages for n in declared[s]})
            raise ValueError(f"-p {key}: {where} {name!r}; valid names: {', '.join(valid)}")
        for stage in having:
            problem = type_error(name, value, declared[stage][name])
            if problem:
                raise ValueError(f"-p {key}: {stage}: {problem} (the notebook declares "
                                 f"{name}: {declared[stage][name]['type']} = "
                                 f"{declared[stage][name]['default']})")


def check_values(stage: str, declared: Mapping[str, Mapping[str, Any]],
                 params: Mapping[str, Any], skip: Iterable[str] = ()) -> None:
    """Refuse injected values of the wrong declared type (a profile preset's too; a preset's
    None means "the notebook's fallback" and is accepted)."""
    for name, value in params.items():
        if name in declared and name not in skip:
            problem = type_error(name, value, declared[name], allow_none=True)
            if problem:
                raise ValueError(f"{stage}: parameter {problem}")
