"""Dataclasses <-> YAML: the shared machinery behind ``moana.train.config`` and ``moana.wsss.config``.

A config is a tree of plain dataclasses read from a small YAML file. This module knows nothing
about what the fields mean; it provides

* :func:`read_yaml_with_lines` - a YAML mapping plus the 1-based line of every key;
* :func:`resolve_config_path` / :func:`list_configs` - a file path or the name of a shipped config;
* :func:`load_layers` / :func:`merge` - ``base: NAME`` or ``base: [A, B, ...]`` composition;
* :func:`apply_overrides` - ``a.b=value`` strings whose value is parsed as YAML;
* :func:`build_dataclass` - the dataclass tree from plain data, coercing values to the field
  types (lists -> tuples, ints -> floats, ...) with errors naming the file and line of the key;
* :func:`to_plain_dict` - the dataclass tree back to YAML/JSON-ready dicts and lists.

Lowest layer: imports only the standard library and PyYAML.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "KeyPath", "Locator", "apply_overrides", "build_dataclass", "coerce", "list_configs",
    "load_layers", "locator", "merge", "override_keys", "read_yaml_with_lines",
    "resolve_config_path", "to_plain_dict",
]

KeyPath = tuple[str, ...]
"""A key's path from the top of the config, e.g. ``("optim", "lr")``."""
Locator = Callable[[KeyPath], str]
"""Maps a key path to where it was set, e.g. ``"runs/a.yaml:12"`` or ``"override"``."""


def _dotted(path: KeyPath) -> str:
    return ".".join(path)


# --------------------------------------------------------------------------- reading YAML


def _key_lines(node: yaml.Node | None, prefix: KeyPath = ()) -> dict[KeyPath, int]:
    """1-based line of every mapping key (as a path) in a composed YAML document."""
    lines: dict[KeyPath, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (str(key_node.value),)
            lines[path] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, path))
    return lines


def read_yaml_with_lines(path: str | Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """Read a YAML mapping and the 1-based line of each key path.

    Raises FileNotFoundError when the file cannot be read and ValueError (naming file and line)
    for invalid YAML or a document that is not a mapping. An empty file is ``{}``.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise FileNotFoundError(f"cannot read config {path}: {err}") from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte 0x{data[err.start]:02x}); save "
                         "the config as UTF-8") from None
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ValueError(f"{where}: invalid YAML: {getattr(err, 'problem', None) or err}") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}:1: a config must be a mapping, got {type(data).__name__}")
    return data, _key_lines(node)


# --------------------------------------------------------------------------- finding files


def list_configs(config_dir: Path) -> list[str]:
    """Names (file stems) of the ``*.yaml`` configs in ``config_dir``."""
    return sorted(p.stem for p in Path(config_dir).glob("*.yaml"))


def resolve_config_path(name_or_path: str | Path, config_dir: Path, *,
                        relative_to: Path | None = None, what: str = "config") -> Path:
    """A YAML file path, or the shipped ``config_dir/<name>.yaml`` for a bare name.

    With ``relative_to`` (the folder of a file naming it as ``base``), a relative name is first
    looked up there, with or without ``.yaml``, then as a file, then under ``config_dir`` (so a
    base may name a shipped piece such as ``_base_/models/resnet50`` from any folder). Raises
    FileNotFoundError listing the shipped names.
    """
    candidate = Path(name_or_path)
    if relative_to is not None and not candidate.is_absolute():
        near = Path(relative_to) / candidate
        if near.is_file():
            return near
        if near.with_suffix(".yaml").is_file():
            return near.with_suffix(".yaml")
    if candidate.is_file():
        return candidate
    if relative_to is not None and not candidate.is_absolute():
        inside = Path(config_dir) / candidate
        for piece in (inside, inside.parent / f"{inside.name.removesuffix('.yaml')}.yaml"):
            if piece.is_file():
                return piece
    shipped = Path(config_dir) / f"{candidate.name.removesuffix('.yaml')}.yaml"
    if candidate.parent == Path(".") and shipped.is_file():
        return shipped
    raise FileNotFoundError(
        f"{what} {str(name_or_path)!r} not found: it is neither a file nor a shipped config; "
        f"shipped: {', '.join(list_configs(config_dir))}")


# --------------------------------------------------------------------------- layering


def _field_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _dataclass_of(hint: Any) -> type | None:
    """The dataclass a field hint names (``X`` or ``X | None``), else None."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if isinstance(arg, type) and dataclasses.is_dataclass(arg):
                return arg
    return None


def merge(base: dict[str, Any], top: dict[str, Any], schema: type | None = None
          ) -> dict[str, Any]:
    """``top`` over ``base``. With a dataclass ``schema`` only mappings of nested dataclass
    fields (sections) are merged key by key, other values (dict-valued fields too) are replaced;
    without one every nested mapping is merged."""
    hints = _field_hints(schema) if schema is not None else {}
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            if schema is None:
                out[key] = merge(out[key], value)
                continue
            sub = _dataclass_of(hints.get(key))
            if sub is not None:
                out[key] = merge(out[key], value, sub)
                continue
        out[key] = value
    return out


def load_layers(path: Path, config_dir: Path, *, schema: type | None = None,
                _seen: tuple[Path, ...] = ()
                ) -> tuple[dict[str, Any], dict[KeyPath, tuple[Path, int]]]:
    """The mapping of a config file merged over its ``base:`` pieces, and where each key was set.

    ``base`` is one name or a list of names, each a shipped config (in ``config_dir``) or a file
    relative to the including one. A list composes its pieces left to right (a later piece
    overrides an earlier one, as mmsegmentation's ``_base_``), then the file's own keys override
    them all. Returns the merged data (without ``base``) and ``{key path: (file, line)}``.
    """
    path = Path(path)
    if path.resolve() in _seen:
        raise ValueError(f"{path}: 'base' chain loops back to itself")
    data, lines = read_yaml_with_lines(path)
    origin = {key: (path, line) for key, line in lines.items()}
    base_names = data.pop("base", None)
    origin.pop(("base",), None)
    if base_names is None:
        return data, origin
    if isinstance(base_names, str):
        base_names = [base_names]
    if (not isinstance(base_names, list) or not base_names
            or not all(isinstance(n, str) for n in base_names)):
        raise ValueError(f"{path}:{lines.get(('base',), 1)}: 'base' must be a config name "
                         f"or a non-empty list of names")
    merged: dict[str, Any] = {}
    merged_origin: dict[KeyPath, tuple[Path, int]] = {}
    for name in base_names:
        base_path = resolve_config_path(name, config_dir, relative_to=path.parent)
        base_data, base_origin = load_layers(base_path, config_dir, schema=schema,
                                             _seen=_seen + (path.resolve(),))
        merged = merge(merged, base_data, schema)
        merged_origin.update(base_origin)
    merged_origin.update(origin)
    return merge(merged, data, schema), merged_origin


# --------------------------------------------------------------------------- overrides


def _parse_override(text: str) -> tuple[KeyPath, Any]:
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like key.sub=value")
    key, raw = text.split("=", 1)
    parts = tuple(part.strip() for part in key.strip().split("."))
    if not all(parts):
        raise ValueError(f"override {text!r}: empty key in {key.strip()!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ValueError(f"override {text!r}: value is not valid YAML: {err}") from err
    return parts, value


def override_keys(overrides: Iterable[str]) -> dict[KeyPath, str]:
    """``{key path: override text}`` for ``a.b=value`` overrides (malformed ones are skipped)."""
    return {tuple(p.strip() for p in o.split("=", 1)[0].strip().split(".")): o
            for o in overrides if "=" in o}


def _check_override_path(text: str, parts: KeyPath, schema: type) -> None:
    """Each key along ``parts`` must be a field while the path runs through dataclasses."""
    cls: type | None = schema
    for depth, part in enumerate(parts):
        if cls is None:
            return
        hints = _field_hints(cls)
        if part not in hints:
            raise ValueError(f"override {text!r}: unknown key {_dotted(parts[:depth + 1])}; "
                             f"known keys: {', '.join(sorted(hints))}")
        cls = _dataclass_of(hints[part])
        if cls is not None and depth == len(parts) - 1:
            raise ValueError(f"override {text!r}: {_dotted(parts)} is a section; set its keys "
                             f"with {_dotted(parts)}.<key>=value")


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], *,
                    schema: type | None = None) -> dict[str, Any]:
    """A copy of ``data`` with ``a.b.c=value`` overrides applied (value parsed as YAML).

    Missing (or null) intermediate mappings are created. With a dataclass ``schema`` the keys are
    checked against its fields (down to the first non-dataclass field) before anything is set.
    ``data`` itself is not modified.
    """
    out = copy.deepcopy(data)
    for text in overrides:
        parts, value = _parse_override(text)
        if schema is not None:
            _check_override_path(text, parts, schema)
        node = out
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ValueError(f"override {text!r}: {_dotted(parts[:depth + 1])} is not a "
                                 f"mapping (it is {child!r})")
            node = child
        node[parts[-1]] = value
    return out


def locator(default: str, origin: dict[KeyPath, tuple[Path, int]] | None = None,
            overridden: Mapping[KeyPath, str] | Iterable[KeyPath] = ()) -> Locator:
    """A :data:`Locator`: ``override 'a.b=v'`` for keys set (or set inside) by an override
    (``overridden`` from :func:`override_keys`; a plain set of paths gives ``override``), else
    ``file:line`` of the key (or of its nearest enclosing key) from ``origin``, else ``default``."""
    origin = origin or {}
    texts: dict[KeyPath, str | None] = (dict(overridden) if isinstance(overridden, Mapping)
                                        else dict.fromkeys(overridden))

    def where(key: KeyPath) -> str:
        for n in range(len(key), 0, -1):
            if key[:n] in texts:
                text = texts[key[:n]]
                return "override" if text is None else f"override {text!r}"
        for n in range(len(key), 0, -1):
            if key[:n] in origin:
                file, line = origin[key[:n]]
                return f"{file}:{line}"
        return default

    return where


# --------------------------------------------------------------------------- building


def coerce(value: Any, hint: Any, where: str, *, strict: bool = True) -> Any:
    """Check ``value`` against a field's type hint, with a few YAML-friendly casts.

    Lists become tuples for tuple fields and lists for list fields; ints and numeric strings
    (PyYAML reads ``5e-4`` as a string) become floats for float fields. ``strict=False`` keeps
    only the structural casts (lists -> tuples) and lets scalars through unchecked.
    ``where`` prefixes error messages.
    """
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
                return coerce(value, arg, where, strict=strict)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if hint is Any:
        return value
    if origin is tuple or hint is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        if not args:
            return tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            items = [args[0]] * len(value)
        else:
            if strict and len(args) != len(value):
                raise ValueError(f"{where}: expected a list of {len(args)} values, got {value!r}")
            items = list(args) + [Any] * (len(value) - len(args))
        return tuple(coerce(v, h, f"{where}[{i}]", strict=strict)
                     for i, (v, h) in enumerate(zip(value, items)))
    if origin is list or hint is list:
        if not isinstance(value, (list, tuple)):
            if not strict:
                return value
            raise ValueError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint) or (Any,)
        return [coerce(v, item, f"{where}[{i}]", strict=strict) for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            if not strict:
                return value
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if not strict:
        return value
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
        if isinstance(value, str):
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


def _default_key_label(path: KeyPath) -> str:
    return f"key {_dotted(path)}"


def build_dataclass(cls: type, data: Any, *, where: Locator | None = None,
                    prefix: KeyPath = (), strict: bool = True,
                    key_label: Callable[[KeyPath], str] = _default_key_label) -> Any:
    """Build dataclass ``cls`` (and its nested dataclass fields) from plain data.

    ``where`` locates a key path (see :func:`locator`); errors read
    ``<where>: unknown <key_label(path)>; known keys: ...`` or ``<where>: a.b: expected ...``.
    A nested dataclass given as null is built from its defaults. ``strict`` as in :func:`coerce`.
    """
    where = where or (lambda key: "config")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        label = _dotted(prefix) if prefix else "a config"
        raise ValueError(f"{where(prefix)}: {label} must be a mapping, got "
                         f"{type(data).__name__} {data!r}")
    hints = _field_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(map(str, data)) - names)
    if unknown:
        key = prefix + (unknown[0],)
        raise ValueError(f"{where(key)}: unknown {key_label(key)}; "
                         f"known keys: {', '.join(sorted(names))}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = prefix + (name,)
        hint = hints[name]
        sub = _dataclass_of(hint)
        if sub is not None and (value is None and hint is sub or isinstance(value, dict)):
            kwargs[name] = build_dataclass(sub, value, where=where, prefix=key, strict=strict,
                                           key_label=key_label)
        elif sub is not None and value is not None:
            raise ValueError(f"{where(key)}: {_dotted(key)} must be a mapping, got "
                             f"{type(value).__name__} {value!r}")
        else:
            kwargs[name] = coerce(value, hint, f"{where(key)}: {_dotted(key)}", strict=strict)
    return cls(**kwargs)


def to_plain_dict(value: Any) -> Any:
    """Dataclasses -> dicts and tuples -> lists, recursively, so the result dumps to plain
    YAML/JSON (``yaml.safe_dump`` rejects tuples)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: to_plain_dict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain_dict(v) for v in value]
    return value
