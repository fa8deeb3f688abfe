"""The lazy (PEP 562) package ``__init__``s of moana.train, moana.wsss and moana.cam: same public
names as an eager import, and their CLI command modules import without torch/pandas."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["moana.train", "moana.wsss", "moana.cam"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_resolves_to_the_defining_object(package):
    if package == "moana.cam":
        pytest.importorskip("pytorch_grad_cam")  # moana.cam.sources needs the demo extra
    pkg = importlib.import_module(package)
    assert set(pkg.__all__) == set(pkg._EXPORTS)
    for name in pkg.__all__:
        value = getattr(pkg, name)
        source = importlib.import_module(pkg._EXPORTS[name])
        assert value is getattr(source, name), (package, name)
        assert name in dir(pkg)
    namespace = {}
    exec(f"from {package} import *", namespace)
    assert set(pkg.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match=f"{package}.*no_such_name"):
        pkg.no_such_name  # noqa: B018


def test_fit_stays_the_function_after_its_module_is_imported():
    code = ("import moana.train.training, moana.train, inspect\n"
            "from moana.train import fit\n"
            "print(inspect.isfunction(fit), inspect.isfunction(moana.train.fit))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert out.stdout.split() == ["True", "True"]


@pytest.mark.parametrize("module", ["moana.train.commands", "moana.wsss.commands"])
def test_command_modules_import_without_torch_or_pandas(module):
    code = (f"import sys, {module}\n"
            "print([m for m in ('torch', 'pandas', 'torchvision') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert out.stdout.strip() == "[]"
