"""Profiles read from ``moana/reproduce/presets/*.yaml`` by a typed loader: an unknown section
or parameter, or a value of the wrong type, is an error naming the file and line."""

from __future__ import annotations

import pytest

from moana.reproduce.profiles import PRESET_DIR, PROFILES, SECTIONS, STAGES, load_profile


def test_the_shipped_profiles_are_the_preset_files():
    assert list(PROFILES) == ["smoke", "paper"]
    assert sorted(p.stem for p in PRESET_DIR.glob("*.yaml")) == sorted(PROFILES)
    for name in PROFILES:
        assert load_profile(PRESET_DIR / f"{name}.yaml") == PROFILES[name]
        assert list(PROFILES[name]) == ["common", *STAGES]
    assert list(SECTIONS) == ["common", *STAGES]


def test_only_the_parameters_a_file_sets_are_returned(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("common: {profile: mine}\n01_train_wsol:\n  epochs: 2\n  methods: [cam]\n")
    assert load_profile(path) == {"common": {"profile": "mine"},
                                  "01_train_wsol": {"epochs": 2, "methods": ["cam"]}}


def test_a_profile_may_start_from_a_shipped_one(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text("base: smoke\n02_ablations:\n  seeds: [0]\n")
    profile = load_profile(path)
    assert profile["02_ablations"] == {**PROFILES["smoke"]["02_ablations"], "seeds": [0]}
    assert profile["01_train_wsol"] == PROFILES["smoke"]["01_train_wsol"]


@pytest.mark.parametrize("text, line, message", [
    ("common: {seed: 0}\n01_train_wsol:\n  search_trials: four\n", 3,
     "01_train_wsol.search_trials: expected an integer"),
    ("01_train_wsol:\n  backbones: small\n", 2, "01_train_wsol.backbones: expected a list"),
    ("02_ablations:\n  seeds: [0, 1]\n  epoch: 3\n", 3, "unknown parameter 'epoch' of 02_ablations"),
    ("common: {}\n06_extra: {}\n", 2, "unknown section '06_extra'"),
])
def test_a_wrong_parameter_is_an_error_naming_the_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"^{path}:{line}: {message}"):
        load_profile(path)


def test_an_unknown_profile_lists_the_shipped_ones():
    with pytest.raises(FileNotFoundError, match="paper, smoke"):
        load_profile("nightly")
