"""The level-set kernels of :mod:`moana.metrics._levelsets` compiled ahead of time by numba.

numba's JIT cache (``cache=True``) still imports numba and initializes its compiler at start-up,
about 1.2 s of CPU per process, which dominates short ``moana evaluate-scoremaps`` runs. The same
kernel source, compiled once by ``numba.pycc`` into an extension module with one fixed signature
per kernel, loads in milliseconds and does not import numba. The module is cached under a name
keyed by the kernel source, this file, the Python ABI and the NumPy version, so an edit of the
kernels or an upgrade never loads a stale build; the numbers are those of the JIT kernels (the
same source; checked in tests/test_metrics_aot.py).

The build (:func:`build`; ``moana evaluate-scoremaps`` runs it once, after its first run with
numba, see :func:`build_once`) needs numba and a C compiler; where it fails the
JIT kernels stay in use. ``MOANA_AOT=0`` turns the compiled module off (neither loaded nor built).
Cache folder: ``$MOANA_AOT_DIR`` when set, else ``moana/metrics/__pycache__`` when writable (as
numba's cache), else ``$XDG_CACHE_HOME/moana`` (default ``~/.cache/moana``).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

#: set to 0 to neither load nor build the ahead-of-time module (the JIT kernels are used)
ENV = "MOANA_AOT"
#: a folder to keep the module in instead of the default ones
DIR_ENV = "MOANA_AOT_DIR"

#: exported kernel -> numba signature (the dtypes the callers in _levelsets pass)
SIGNATURES = {
    "_interior_sort": "i8(u1[::1], i8, i8, i8, i8[::1], i8[::1])",
    "_hole_sweep": "void(u1[::1], i8, i8[::1], i8[::1], i8[:, ::1], i4[::1], i4[::1], "
                   "i4[:, ::1], f8[::1], i4[::1], f8[::1])",
    "_outer_sweep": "i8(u1[::1], i8, i8[::1], i8[::1], i8[:, ::1], b1[::1], i4[::1], i4[::1], "
                    "i4[:, ::1], f8[::1], i4[::1], i8[::1], i8[:, ::1], i8[::1], f8[::1])",
    "_outer_area2": "i8(u1[::1], i8, i8, i8, i8[::1])",
    "_render_area": "void(i4[::1], i4[::1], i4[:, ::1], i8, u1[::1])",
    "_empty_iou": "f8(i8[:, ::1])",
}

_HERE = Path(__file__).resolve().parent


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no")


def _numpy_version() -> str:
    import numpy

    return numpy.__version__


def module_name() -> str:
    """``_levelsets_aot_<key>``: the key hashes the kernel source, this file, the Python ABI,
    the platform and the NumPy version."""
    digest = hashlib.sha256()
    for source in ("_levelsets.py", "_aot.py"):
        digest.update((_HERE / source).read_bytes())
    digest.update(f"{sys.implementation.cache_tag}|{sysconfig.get_platform()}|"
                  f"{_numpy_version()}".encode())
    return "_levelsets_aot_" + digest.hexdigest()[:16]


def cache_dirs() -> list[Path]:
    """Where the module is looked for, in order (the first writable one is built into):
    ``$MOANA_AOT_DIR`` alone when set, else the package's ``__pycache__`` and the user cache."""
    if os.environ.get(DIR_ENV):
        return [Path(os.environ[DIR_ENV])]
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "moana"
    return [_HERE / "__pycache__", user]


def _path_in(directory: Path, name: str) -> Path:
    return directory / (name + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))


def load():
    """The compiled module for the current kernel source, or None (not built, disabled, or it
    does not import)."""
    if not enabled():
        return None
    name = module_name()
    for directory in cache_dirs():
        path = _path_in(directory, name)
        if not path.is_file():
            continue
        try:
            loader = importlib.machinery.ExtensionFileLoader(name, str(path))
            spec = importlib.util.spec_from_file_location(name, path, loader=loader)
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
        except (ImportError, OSError):
            continue
        if all(hasattr(module, kernel) for kernel in SIGNATURES):
            return module
    return None


def build(timeout: float = 900.0) -> Path:
    """Compile the module into the first writable cache folder (atomically: a concurrent build
    or a reader never sees a partial file); returns its path. Raises RuntimeError when the
    compilation fails (no numba, no C compiler)."""
    name = module_name()
    errors = []
    for directory in cache_dirs():
        try:
            directory.mkdir(parents=True, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=".aot-", dir=directory)
        except OSError as err:
            errors.append(f"{directory}: {err}")
            continue
        env = dict(os.environ, **{ENV: "0"})  # the child binds the JIT kernels
        env.pop("MOANA_DISABLE_NUMBA", None)
        code = ("from moana.metrics._aot import SIGNATURES\n"
                "from moana.metrics._levelsets import compile_ahead_of_time\n"
                f"compile_ahead_of_time({tmp!r}, {name!r}, SIGNATURES)")
        try:
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, timeout=timeout)
            built = _path_in(Path(tmp), name)
            if out.returncode != 0 or not built.is_file():
                raise RuntimeError(out.stderr.strip().splitlines()[-1:] or "no output")
            target = _path_in(directory, name)
            os.replace(built, target)
            for stale in directory.glob("_levelsets_aot_*"):  # builds of older kernel sources
                if stale != target:
                    stale.unlink(missing_ok=True)
            return target
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
            errors.append(f"{directory}: {err}")
        finally:
            for leftover in Path(tmp).glob("*"):
                leftover.unlink(missing_ok=True)
            Path(tmp).rmdir()
    raise RuntimeError("could not compile the level-set kernels ahead of time: "
                       + "; ".join(map(str, errors)))


def build_once(jit: bool, quiet: bool = False) -> Path | None:
    """Build the module when the JIT kernels are in use (``jit``:
    ``moana.metrics._levelsets.JIT``) and it is missing; what ``moana evaluate-scoremaps`` calls
    after its run. A failure is reported on stderr and the JIT kernels stay."""
    if not enabled() or not jit or load() is not None:
        return None
    if not quiet:
        print("moana: compiling the box-metric kernels once ahead of time (later runs start "
              "about 1 s faster; MOANA_AOT=0 skips this) ...", file=sys.stderr)
    try:
        return build()
    except RuntimeError as err:
        print(f"moana: {err}; the JIT kernels stay in use", file=sys.stderr)
        return None
