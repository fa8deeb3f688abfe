"""The shared dataclasses <-> YAML machinery (moana.config): lines, base, overrides, coercion."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from moana.config import (apply_overrides, build_dataclass, list_configs, load_layers, locator,
                          override_keys, read_yaml_with_lines, resolve_config_path, to_plain_dict)


@dataclass
class Inner:
    lr: float = 0.1
    steps: int = 3
    sizes: tuple[int, int] = (32, 64)
    scales: tuple[float, ...] = (1.0,)
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outer:
    title: str = "t"
    flag: bool = False
    inner: Inner = field(default_factory=Inner)


def _load(path: Path, config_dir: Path, overrides: list[str] = (), strict: bool = True) -> Outer:
    data, origin = load_layers(path, config_dir, schema=Outer)
    where = locator(str(path), origin, override_keys(overrides))
    data = apply_overrides(data, overrides, schema=Outer)
    return build_dataclass(Outer, data, where=where, strict=strict)


def test_read_yaml_with_lines_and_errors(tmp_path: Path):
    path = tmp_path / "a.yaml"
    path.write_text("# comment\ntitle: x\ninner:\n  lr: 0.5\n")
    data, lines = read_yaml_with_lines(path)
    assert data == {"title": "x", "inner": {"lr": 0.5}}
    assert lines == {("title",): 2, ("inner",): 3, ("inner", "lr"): 4}
    path.write_text("")
    assert read_yaml_with_lines(path) == ({}, {})
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match=r"a\.yaml:1: a config must be a mapping"):
        read_yaml_with_lines(path)
    path.write_text("title: x\ninner: [1\n")
    with pytest.raises(ValueError, match=r"a\.yaml:\d+: invalid YAML"):
        read_yaml_with_lines(path)
    with pytest.raises(FileNotFoundError, match="missing"):
        read_yaml_with_lines(tmp_path / "missing.yaml")


def test_unknown_key_names_file_and_line(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("title: x\ninner:\n  lr: 0.5\n  stepz: 2\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:4: unknown key inner\.stepz; known keys: "
                                         r"extra, lr, name, scales, sizes, steps"):
        _load(path, tmp_path)
    path.write_text("titel: x\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:1: unknown key titel"):
        _load(path, tmp_path)
    path.write_text("inner: 3\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:1: inner must be a mapping"):
        _load(path, tmp_path)
    path.write_text("inner:\n  steps: two\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:2: inner\.steps: expected an integer"):
        _load(path, tmp_path)
    with pytest.raises(ValueError, match=r"config: unknown key 'x' in inner"):  # custom label
        build_dataclass(Outer, {"inner": {"x": 1}},
                        key_label=lambda key: f"key {key[-1]!r} in {'.'.join(key[:-1])}")


def test_base_inheritance(tmp_path: Path):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "root.yaml").write_text(
        "title: root\nflag: true\ninner:\n  lr: 0.2\n  steps: 5\n  extra: {a: 1, b: 2}\n")
    child = tmp_path / "child.yaml"
    child.write_text("base: root\ninner:\n  steps: 7\n  extra: {c: 3}\n")
    grandchild = tmp_path / "grandchild.yaml"
    grandchild.write_text("base: child\ntitle: gc\ninner:\n  bogus: 1\n")
    assert list_configs(shipped) == ["root"]
    config = _load(child, shipped)
    # sections merge key by key; dict-valued fields are replaced, not merged
    assert config == Outer(title="root", flag=True, inner=Inner(lr=0.2, steps=7, extra={"c": 3}))
    data, origin = load_layers(grandchild, shipped, schema=Outer)
    assert data["title"] == "gc" and data["inner"]["steps"] == 7 and "base" not in data
    assert origin[("inner", "steps")] == (child, 3)
    assert origin[("flag",)] == (shipped / "root.yaml", 2)
    with pytest.raises(ValueError, match=r"grandchild\.yaml:4: unknown key inner\.bogus"):
        _load(grandchild, shipped)
    loop = tmp_path / "loop.yaml"
    loop.write_text("base: loop.yaml\n")
    with pytest.raises(ValueError, match="loops back"):
        load_layers(loop, shipped)
    (tmp_path / "nobase.yaml").write_text("base: nowhere\n")
    with pytest.raises(FileNotFoundError, match="shipped: root"):
        load_layers(tmp_path / "nobase.yaml", shipped)


def test_base_list_composes_pieces_left_to_right(tmp_path: Path):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "common.yaml").write_text("title: common\ninner:\n  lr: 0.1\n  steps: 1\n")
    (shipped / "dataset.yaml").write_text("base: common\ninner:\n  steps: 2\n")
    (shipped / "schedule.yaml").write_text("base: common\ninner:\n  lr: 0.3\n")
    top = tmp_path / "top.yaml"
    top.write_text("base: [dataset, schedule]\nflag: true\n")
    data, origin = load_layers(top, shipped, schema=Outer)
    # the later piece wins where both set a key (schedule re-sets steps from common: 1)
    assert data["inner"] == {"lr": 0.3, "steps": 1} and data["flag"] is True
    assert origin[("inner", "lr")] == (shipped / "schedule.yaml", 3)
    assert origin[("flag",)] == (top, 2)
    top.write_text("base: [dataset, schedule]\ninner:\n  steps: 9\n")
    assert _load(top, shipped).inner == Inner(lr=0.3, steps=9)
    for bad in ("base: []\n", "base: [dataset, 3]\n", "base: {a: 1}\n"):
        top.write_text(bad)
        with pytest.raises(ValueError, match=r"top\.yaml:1: 'base' must be a config name"):
            load_layers(top, shipped)


def test_resolve_config_path(tmp_path: Path):
    (tmp_path / "one.yaml").write_text("{}")
    assert resolve_config_path("one", tmp_path) == tmp_path / "one.yaml"
    assert resolve_config_path("one.yaml", tmp_path) == tmp_path / "one.yaml"
    own = tmp_path / "sub" / "own.yaml"
    own.parent.mkdir()
    own.write_text("{}")
    assert resolve_config_path(own, tmp_path) == own
    with pytest.raises(FileNotFoundError, match=r"profile 'two' not found.*shipped: one"):
        resolve_config_path("two", tmp_path, what="profile")


def test_override_coercion_and_errors(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  lr: 0.2\n")
    config = _load(path, tmp_path, ["inner.lr=1", "inner.steps=4", "flag=true", "title=5x",
                                    "inner.extra.deep.k=[1, 2]", "inner.name=null",
                                    "inner.scales=[1, 0.5]"])
    assert config.inner.lr == 1.0 and isinstance(config.inner.lr, float)
    assert config.inner.steps == 4 and config.flag is True and config.title == "5x"
    assert config.inner.extra == {"deep": {"k": [1, 2]}}
    assert config.inner.scales == (1.0, 0.5) and config.inner.name is None
    with pytest.raises(ValueError, match=r"override 'inner\.steps=x': inner\.steps: expected an"):
        _load(path, tmp_path, ["inner.steps=x"])
    with pytest.raises(ValueError, match=r"override 'inner\.foo=1': unknown key inner\.foo"):
        _load(path, tmp_path, ["inner.foo=1"])
    with pytest.raises(ValueError, match="is a section"):
        _load(path, tmp_path, ["inner=1"])
    with pytest.raises(ValueError, match=r"key\.sub=value"):
        _load(path, tmp_path, ["inner.lr"])
    with pytest.raises(ValueError, match="not valid YAML"):
        _load(path, tmp_path, ["inner.lr=[1"])
    data = {"a": {"b": 1}}
    assert apply_overrides(data, ["a.c=2", "x.y=3"]) == {"a": {"b": 1, "c": 2}, "x": {"y": 3}}
    assert data == {"a": {"b": 1}}  # not modified
    with pytest.raises(ValueError, match=r"a\.b is not a mapping"):
        apply_overrides(data, ["a.b.c=1"])
    # YAML reads 5e-4 as a string: float fields accept it
    assert build_dataclass(Inner, {"lr": "5e-4"}).lr == 5e-4


def test_tuple_fields_and_plain_dict():
    config = build_dataclass(Outer, {"inner": {"sizes": [24, 48], "scales": [1, 0.5, 2]}})
    assert config.inner.sizes == (24, 48) and config.inner.scales == (1.0, 0.5, 2.0)
    with pytest.raises(ValueError, match=r"inner\.sizes: expected a list of 2 values"):
        build_dataclass(Outer, {"inner": {"sizes": [1, 2, 3]}})
    with pytest.raises(ValueError, match=r"inner\.sizes: expected a list, got 3"):
        build_dataclass(Outer, {"inner": {"sizes": 3}})
    with pytest.raises(ValueError, match=r"inner\.scales\[1\]: expected a number"):
        build_dataclass(Outer, {"inner": {"scales": [1, "x"]}})
    # strict=False: lists still become tuples, scalars pass unchecked (YAML's off -> False)
    loose = build_dataclass(Outer, {"title": False, "inner": {"sizes": [1, 2, 3]}}, strict=False)
    assert loose.title is False and loose.inner.sizes == (1, 2, 3)
    plain = to_plain_dict(config)
    assert plain["inner"]["sizes"] == [24, 48] and plain["inner"]["scales"] == [1.0, 0.5, 2.0]
    assert build_dataclass(Outer, yaml.safe_load(yaml.safe_dump(plain))) == config
    assert build_dataclass(Outer, {"inner": None}) == Outer()
