"""PEP 562 lazy re-exports for package ``__init__`` modules whose submodules import torch/pandas.

A package lists ``{public name: defining submodule}``; the submodule is imported on first access
of the name (then cached in the package namespace), so importing a light sibling such as
``moana.train.commands`` does not pay for torch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` re-exporting ``exports`` (name -> module).

    Call it from the package's ``__init__`` after defining ``_EXPORTS = exports``.
    ``__getattr__`` raises AttributeError (naming the package) for any other name; ``__dir__``
    lists the module's globals plus the lazy names.
    """
    module_obj = sys.modules[package]
    namespace = module_obj.__dict__
    if any(name == module.rsplit(".", 1)[-1] for name, module in exports.items()):
        raise ValueError(f"{package}: an exported name equals its submodule's name; rename the "
                         f"submodule (the import system would rebind the name to the module)")

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
