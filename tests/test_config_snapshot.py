"""Every shipped config resolves to the values pinned in tests/data/config_snapshot.json.

The snapshot was written before the configs were recomposed from ``_base_`` pieces
(tests/data/README.md); composition must not change a single resolved value.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moana.reproduce.profiles import PROFILES
from moana.train.config import available_configs, load_config
from moana.wsss.config import load_wsss_config

def _text(value) -> str:
    """JSON text in key order, so 1 vs 1.0 or a reordered mapping is a difference too."""
    return json.dumps(value, sort_keys=False, indent=1)


SNAPSHOT = json.loads((Path(__file__).parent / "data" / "config_snapshot.json")
                      .read_text(encoding="utf-8"))


def test_the_shipped_train_configs_are_the_snapshot_s():
    assert available_configs() == sorted(SNAPSHOT["train"])


@pytest.mark.parametrize("name", sorted(SNAPSHOT["train"]))
def test_train_config_resolves_to_the_snapshot(name):
    assert _text(load_config(name).to_dict()) == _text(SNAPSHOT["train"][name])


@pytest.mark.parametrize("name", sorted(SNAPSHOT["wsss"]))
def test_wsss_config_resolves_to_the_snapshot(name):
    assert _text(load_wsss_config(name).to_dict()) == _text(SNAPSHOT["wsss"][name])


def test_profiles_are_the_snapshot_s():
    assert _text(PROFILES) == _text(SNAPSHOT["profiles"])
