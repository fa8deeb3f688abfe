"""Write ``tests/data/config_snapshot.json``: every shipped config resolved, and the profiles.

Run from the repository root: ``PYTHONPATH=. python tests/data/make_config_snapshot.py``.
The snapshot pins what ``load_config(name).to_dict()`` (each WSOL training config),
``load_wsss_config(name).to_dict()`` (each WSSS config) and ``PROFILES`` give;
tests/test_config_snapshot.py asserts they still do.
"""

from __future__ import annotations

import json
from pathlib import Path

from moana.reproduce.profiles import PROFILES
from moana.train.config import available_configs, load_config
from moana.wsss.config import load_wsss_config


def snapshot() -> dict:
    """The resolved configs and profiles as plain JSON-ready data."""
    return {
        "train": {name: load_config(name).to_dict() for name in available_configs()},
        "wsss": {name: load_wsss_config(name).to_dict() for name in ("smoke", "paper")},
        "profiles": PROFILES,
    }


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "config_snapshot.json"
    out.write_text(json.dumps(snapshot(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
