"""WSSS configs are as strict as training configs: a wrong type is refused at load time with the
file and line of its key (or the override that set it); numeric strings become numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from moana.wsss.config import load_wsss_config


def test_shipped_configs_load_strictly() -> None:
    for name in ("smoke", "paper"):
        assert load_wsss_config(name).cam.epochs >= 1


def test_override_of_wrong_type_is_refused() -> None:
    with pytest.raises(ValueError, match=r"override 'cam\.epochs=ten': cam\.epochs: expected an "
                                         r"integer, got 'ten'"):
        load_wsss_config("smoke", ["cam.epochs=ten"])


def test_yaml_1_1_exponent_strings_become_floats(tmp_path: Path) -> None:
    # PyYAML (YAML 1.1) reads 1e-2 without a dot as the string '1e-2'
    config = tmp_path / "mine.yaml"
    config.write_text("base: smoke\ncam:\n  lr: 1e-2\n")
    loaded = load_wsss_config(config)
    assert loaded.cam.lr == 0.01 and isinstance(loaded.cam.lr, float)
    assert load_wsss_config("smoke", ["cam.lr=1e-2"]).cam.lr == 0.01


def test_wrong_type_in_a_file_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "mine.yaml"
    config.write_text("base: smoke\ncam:\n  batch_size: 4\n  epochs: [1, 2]\n")
    with pytest.raises(ValueError, match=r"mine\.yaml:4: cam\.epochs: expected an integer"):
        load_wsss_config(config)


@pytest.mark.parametrize("value, expected", [("on", True), ("off", False), ("auto", "auto")])
def test_crf_switch_accepts_yaml_booleans(value: str, expected: object) -> None:
    assert load_wsss_config("smoke", [f"ir_label.crf={value}"]).ir_label.crf == expected
