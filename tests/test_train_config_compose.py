"""Training configs composed from ``_base_`` pieces with a list-valued ``base:``.

The pieces (``moana/train/configs/_base_/``) are not configs: they are not listed and not
loadable alone. A paper config is a few lines; a new experiment written elsewhere may name the
shipped pieces; an error inside a piece names the piece's file and line.
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from moana.config import to_plain_dict
from moana.reproduce.profiles import PROFILES
from moana.train.config import (CONFIG_DIR, PIECES_DIR, RuntimeConfig, TrainConfig,
                                available_configs, load_config)
from moana.wsss.config import WSSSConfig

PAPER = [n for n in available_configs() if n.startswith(("cub_", "ilsvrc_"))]


def _pieces():
    return sorted(PIECES_DIR.rglob("*.yaml"))


def test_pieces_and_search_spaces_are_not_listed():
    names = available_configs()
    assert names == sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    assert len(PAPER) == 42
    assert not any(n.startswith("_") for n in names)
    assert (CONFIG_DIR / "search" / "cam.yaml").is_file() and "cam" not in names


def test_config_list_shows_no_piece():
    from moana.train.config_commands import list_configs

    train = [name for kind, name, _ in list_configs() if kind == "train"]
    assert train == available_configs()


@pytest.mark.parametrize("piece", ["_base_/datasets/cub", "_base_/runtime"])
def test_a_piece_is_not_loadable_as_a_config(piece):
    with pytest.raises(ValueError, match=r"a piece to compose"):
        load_config(CONFIG_DIR / f"{piece}.yaml")
    with pytest.raises(FileNotFoundError):
        load_config(piece.rpartition("/")[2])  # a bare piece name is no shipped config


def test_the_profiles_name_only_listed_configs():
    names = set(available_configs())
    for preset in PROFILES.values():
        stage = preset["01_train_wsol"]
        for backbone in stage["backbones"]:
            for method in stage["methods"]:
                name = stage["config_template"].format(backbone=backbone, method=method)
                assert name in names
        assert preset["02_ablations"]["config"] in names


def test_every_piece_is_used_and_holds_only_sections():
    used = set()
    for name in available_configs():
        base = yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text()).get("base") or []
        used |= {b for b in ([base] if isinstance(base, str) else base) if b.startswith("_base_/")}
    assert used == {str(p.relative_to(CONFIG_DIR).with_suffix("")) for p in _pieces()}
    sections = {f.name for f in dataclasses.fields(TrainConfig)} - {"name", "description"}
    for piece in _pieces():
        assert set(yaml.safe_load(piece.read_text())) <= sections, piece


@pytest.mark.parametrize("name", PAPER)
def test_a_paper_config_is_a_few_lines(name):
    lines = [ln for ln in (CONFIG_DIR / f"{name}.yaml").read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(lines) <= 11, lines


def test_a_new_experiment_composes_the_shipped_pieces_from_any_folder(tmp_path):
    path = tmp_path / "my_cub_resnet50_cam.yaml"
    path.write_text(
        "base: [_base_/datasets/cub, _base_/models/resnet50, _base_/methods/cam,\n"
        "       _base_/schedules/wsolevaluation_cub, _base_/runtime]\n"
        "optim: {lr: 2.3222617e-3, backbone_lr: 2.3222617e-4, weight_decay: 1.0e-4}\n")
    mine = load_config(path).to_dict()
    shipped = load_config("cub_resnet50_cam").to_dict()
    assert mine.pop("name") == "my_cub_resnet50_cam"
    shipped.pop("name")
    assert mine == {**shipped, "description": ""}


def test_a_later_piece_overrides_an_earlier_one(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("base: [cub_resnet50_cam, _base_/methods/moana]\n")
    config = load_config(path)
    assert config.model.method == "moana" and config.model.attention_kw["axes"] == "chw"
    assert config.optim.lr == load_config("cub_resnet50_cam").optim.lr


def test_an_error_in_a_piece_names_its_file_and_line(tmp_path):
    piece = tmp_path / "schedule.yaml"
    piece.write_text("optim:\n  batch_size: 32\n  epochs: ten\n")
    (tmp_path / "run.yaml").write_text("base: [cub_resnet50_cam, schedule]\n")
    with pytest.raises(ValueError, match=rf"{piece}:3: optim.epochs: expected an integer"):
        load_config(tmp_path / "run.yaml")


def test_one_runtime_section_for_train_and_wsss():
    train = TrainConfig().runtime
    wsss = WSSSConfig().runtime
    assert isinstance(train, RuntimeConfig) and type(wsss) is RuntimeConfig
    shared = to_plain_dict(wsss)
    assert {k: v for k, v in to_plain_dict(train).items() if k in shared} == shared
