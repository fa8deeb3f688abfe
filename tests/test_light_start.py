"""Commands that do not need torch do not import it: ``data check`` (both kinds), ``data synth``
(both kinds), ``evaluate-scoremaps`` and ``config show``/``list`` each run in a fresh
interpreter on a tiny synthetic input and leave torch and torchvision out of ``sys.modules``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from moana.cli import main
from moana.scoremaps import save_scoremap

REPO = Path(__file__).resolve().parents[1]

#: run the command, then report on the last stdout line which heavy modules it imported
PROBE = ("import sys\nfrom moana.cli import main\ncode = main(sys.argv[1:])\n"
         "print('HEAVY:' + ','.join(m for m in ('torch', 'torchvision') if m in sys.modules))\n"
         "sys.exit(code)\n")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A 10-image WSOL tree, a 5-image VOC tree and random score maps of the WSOL test split."""
    root = tmp_path_factory.mktemp("light")
    assert main(["data", "synth", "--kind", "wsol", "--out", str(root / "wsol"), "--num-classes",
                 "2", "--per-class", "train=3,val=1,test=1", "--image-size", "32"]) == 0
    assert main(["data", "synth", "--kind", "voc", "--out", str(root / "voc"), "--num-train", "3",
                 "--num-val", "2"]) == 0
    rng = np.random.default_rng(0)
    test = root / "wsol" / "metadata" / "test"
    for image_id in (test / "image_ids.txt").read_text().split():
        save_scoremap(root / "maps", image_id, rng.random((32, 32)))
    return {"root": root, "wsol": root / "wsol", "voc": root / "voc", "maps": root / "maps"}


COMMANDS = {
    "data check wsol": lambda p: ["data", "check", "--kind", "wsol", "--data-root",
                                  p["wsol"] / "images", "--metadata", p["wsol"] / "metadata",
                                  "--quiet"],
    "data check voc": lambda p: ["data", "check", "--kind", "voc", "--root", p["voc"], "--quiet"],
    "data synth wsol": lambda p: ["data", "synth", "--kind", "wsol", "--out", p["root"] / "w2",
                                  "--num-classes", "2", "--per-class", "train=1,val=1,test=1"],
    "data synth voc": lambda p: ["data", "synth", "--kind", "voc", "--out", p["root"] / "v2",
                                 "--num-train", "2", "--num-val", "1"],
    "evaluate-scoremaps": lambda p: ["evaluate-scoremaps", "--scoremaps", p["maps"], "--metadata",
                                     p["wsol"] / "metadata" / "test", "--mask-root",
                                     p["wsol"] / "images", "--step", "0.05", "--quiet"],
    "config show": lambda p: ["config", "show", "smoke"],
    "config list": lambda p: ["config", "list"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_runs_without_importing_torch(name, inputs):
    args = [str(a) for a in COMMANDS[name](inputs)]
    env = dict(os.environ, PYTHONPATH=str(REPO), MOANA_AOT="0")
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    heavy = done.stdout.strip().splitlines()[-1]
    assert heavy == "HEAVY:", f"`moana {' '.join(args)}` imported {heavy[6:]}"
