"""``moana reproduce``: run the numbered notebooks with papermill and publish results/.

Every stage runs into a staging folder next to ``results/``; only when all selected stages have
succeeded are the staged ``tables/``, ``figures/``, ``notebooks/`` (executed copies),
``manifest.json`` and ``README.md`` swapped into ``results/``. A failing notebook therefore stops
the run with a non-zero exit and leaves the previous results untouched (its executed copy, with
the traceback, is kept under ``<work_dir>/failed/``). With ``--only`` the previous results are
carried over and only that stage's files (as listed in ``manifest.json``) are replaced.
Intermediate artefacts (datasets, runs, checkpoints) live in the work dir, outside results/.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from moana.io import atomic_write_text
from moana.reproduce.profiles import PROFILES, STAGES, parse_override, stage_name, stage_parameters

REPO_ROOT = Path(__file__).resolve().parents[2]
#: the checkout's notebooks/ (absent when moana is installed from a wheel)
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
#: matplotlib backend of the notebooks' kernels: inline, so executed copies keep their figures
#: (an inherited MPLBACKEND=Agg, as test runs set, would leave them without images)
KERNEL_MPLBACKEND = "module://matplotlib_inline.backend_inline"
#: environment of the notebooks' kernels: the inline backend, and no tqdm bars (in an executed
#: copy a bar is a frozen widget or a partial line; progress reaches the terminal through
#: :mod:`moana.progress` instead)
KERNEL_ENV = {"MPLBACKEND": KERNEL_MPLBACKEND, "TQDM_DISABLE": "1"}
#: the kernel's own start-up warning about unencrypted local TCP sockets is not for the reader
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
#: what the runner owns inside results/; anything else there is left alone.
MANAGED = ("tables", "figures", "notebooks", "manifest.json", "README.md")
MANIFEST = "manifest.json"


class StageFailed(RuntimeError):
    """A notebook raised; the message names the stage and where its executed copy was kept."""


def git_commit(repo: Path = REPO_ROOT) -> str:
    """``<sha>`` of HEAD (``+dirty`` when the tree has changes), or ``"uncommitted"``."""
    from moana.train.records import git_commit as commit_info

    info = commit_info(repo)
    if info["commit"] is None:
        return "uncommitted"
    return info["commit"][:12] + ("+dirty" if info["dirty"] else "")


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _read_manifest(results_dir: Path) -> dict[str, Any]:
    path = results_dir / MANIFEST
    if not path.is_file():
        return {"stages": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg}); remove it to rerun") from err
    data.setdefault("stages", {})
    return data


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def _stage_outputs(stage: str) -> list[str]:
    return [f"notebooks/{stage}.ipynb"]


def _swap_in(staging: Path, results_dir: Path) -> None:
    """Replace the managed entries of ``results_dir`` by those of ``staging`` (renames only)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    trash = Path(tempfile.mkdtemp(dir=results_dir.parent, prefix=f".{results_dir.name}.old-"))
    try:
        for name in MANAGED:
            if (results_dir / name).exists():
                os.replace(results_dir / name, trash / name)
            if (staging / name).exists():
                os.replace(staging / name, results_dir / name)
    finally:
        shutil.rmtree(trash, ignore_errors=True)


Executor = Callable[[Path, Path, dict[str, Any]], None]


@contextlib.contextmanager
def kernel_environment(**variables: str) -> Iterator[None]:
    """Set environment variables for kernels started inside the block (they inherit
    ``os.environ``), restoring the previous values afterwards."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def quiet_default() -> bool:
    """No progress bars under CI (``CI`` set to a true value)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def papermill_executor(kernel_name: str = "python3", log_output: bool = False,
                       progress_bar: bool = True) -> Executor:
    """Run a notebook with papermill in its own folder (relative defaults resolve there), with
    papermill's cell progress bar (unless ``progress_bar=False``) and the inline matplotlib
    backend in the kernel (:data:`KERNEL_MPLBACKEND`)."""

    def execute(notebook: Path, output: Path, parameters: dict[str, Any]) -> None:
        import papermill as pm

        with kernel_environment(**KERNEL_ENV):
            pm.execute_notebook(str(notebook), str(output), parameters=parameters,
                                kernel_name=kernel_name, cwd=str(notebook.parent),
                                progress_bar=progress_bar, log_output=log_output,
                                extra_arguments=list(KERNEL_ARGUMENTS))

    return execute


def find_notebooks_dir(path: str | Path | None = None) -> Path:
    """The folder of the numbered notebooks: ``path`` when given, else the checkout's
    ``notebooks/`` (next to the package), else ``./notebooks``. Raises FileNotFoundError
    saying to pass ``--notebooks DIR`` when none holds them (e.g. moana installed from a
    wheel, run outside a checkout)."""
    if path is not None:
        folder = Path(path)
        if not folder.is_dir() or not any(folder.glob("*.ipynb")):
            raise FileNotFoundError(f"--notebooks {folder}: no .ipynb notebooks there")
        return folder
    for folder in (NOTEBOOKS_DIR, Path.cwd() / "notebooks"):
        if folder.is_dir() and any(folder.glob("*.ipynb")):
            return folder
    raise FileNotFoundError(
        f"no notebooks/ folder found (looked in {NOTEBOOKS_DIR} and ./notebooks): moana is "
        "installed without its notebooks; pass --notebooks DIR (the notebooks/ folder of a "
        "clone of the repository)")


def select_stages(only: Sequence[str] | None) -> list[str]:
    """Stages to run, in pipeline order: all when ``only`` is empty, else those named (stage names
    or numbers, comma lists accepted).  Raises ValueError (from :func:`stage_name`) for an
    unknown stage."""
    if not only:
        return list(STAGES)
    chosen = {stage_name(key) for item in only for key in item.split(",") if key.strip()}
    return [stage for stage in STAGES if stage in chosen]


def reproduce(
    profile: str = "smoke",
    *,
    results_dir: str | Path = "results",
    work_dir: str | Path = "work",
    only: Sequence[str] | None = None,
    overrides: dict[str, Any] | None = None,
    notebooks_dir: str | Path | None = None,
    kernel_name: str = "python3",
    log_output: bool = False,
    echo: bool = True,
    progress_bar: bool | None = None,
    execute: Executor | None = None,
) -> dict[str, Any]:
    """Run the stages of ``profile`` and publish into ``results_dir``; return the manifest.

    ``execute(notebook, executed_copy, parameters)`` runs one notebook (default: papermill with
    ``kernel_name``, in the notebooks folder, see :func:`papermill_executor`);
    ``notebooks_dir`` defaults to :func:`find_notebooks_dir`. ``echo`` prints a line per stage
    (start, end); ``progress_bar`` (default: on unless ``CI`` is set or ``echo`` is False)
    shows papermill's per-cell bar. Raises :class:`StageFailed` (results untouched) when a
    notebook fails, FileNotFoundError when a notebook is missing.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    results_dir = Path(results_dir).resolve()
    work_dir = Path(work_dir).resolve()
    notebooks_dir = find_notebooks_dir(notebooks_dir).resolve()
    if progress_bar is None:
        progress_bar = echo and not quiet_default()
    stages = select_stages(only)
    for stage in stages:
        if not (notebooks_dir / f"{stage}.ipynb").is_file():
            raise FileNotFoundError(f"{notebooks_dir / (stage + '.ipynb')} not found")
    if results_dir == work_dir or work_dir in results_dir.parents or results_dir in work_dir.parents:
        raise ValueError(f"work dir {work_dir} and results dir {results_dir} must not contain each other")

    check_parameters(profile, stages, notebooks_dir, overrides or {}, work_dir=work_dir)
    previous = _read_manifest(results_dir)
    results_dir.parent.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=results_dir.parent, prefix=f".{results_dir.name}.staging-"))
    manifest: dict[str, Any] = {"stages": {}}
    run_one = execute or papermill_executor(kernel_name, log_output, progress_bar)
    try:
        if only:
            manifest["stages"] = _carry_over(results_dir, staging, previous, stages)
        (staging / "notebooks").mkdir(exist_ok=True)
        for number, stage in enumerate(stages, start=1):
            if echo:
                print(f"[moana reproduce] {number}/{len(stages)} {stage} ({profile})"
                      f"{_expected(previous, stage, profile)} ...", flush=True)
            with progress_echo(work_dir / f".progress-{stage}.txt", f"  {stage}: ", echo=echo):
                record = _run_stage(run_one, profile, stage, notebooks_dir=notebooks_dir,
                                    work_dir=work_dir, staging=staging, results_dir=results_dir,
                                    overrides=overrides)
            manifest["stages"][stage] = record
            if echo:
                print(f"[moana reproduce] {number}/{len(stages)} {stage} done in "
                      f"{record['seconds']:.1f} s", flush=True)
        manifest["stages"] = {s: manifest["stages"][s] for s in STAGES if s in manifest["stages"]}
        manifest.update(profile=profile, commit=git_commit(),
                        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                        work_dir=os.path.relpath(work_dir, notebooks_dir))
        _write_json(staging / MANIFEST, manifest)
        from moana.viz.report import write_results_readme

        write_results_readme(staging, manifest)
        _swap_in(staging, results_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _expected(previous: dict[str, Any], stage: str, profile: str) -> str:
    """``", last run 95 s"`` from the previous manifest (same profile), else ``""``."""
    record = previous.get("stages", {}).get(stage) or {}
    seconds = record.get("seconds")
    if record.get("profile") != profile or not isinstance(seconds, (int, float)):
        return ""
    return f", last run {seconds:.0f} s" if seconds < 120 else f", last run {seconds / 60:.0f} min"


def check_parameters(profile: str, stages: Sequence[str], notebooks_dir: Path,
                     overrides: dict[str, Any], *, work_dir: Path) -> None:
    """Before any notebook starts: every ``-p`` override names a declared parameter of its
    stage with a value of the declared type, and every preset value fits its declared type
    (:mod:`moana.reproduce.nbparams`). Raises ValueError listing the valid names / expected type."""
    from moana.reproduce.nbparams import check_overrides, check_values, declared_parameters

    declared = {s: declared_parameters(notebooks_dir / f"{s}.ipynb") for s in stages}
    check_overrides(declared, overrides, stage_name)
    for stage in stages:
        params = stage_parameters(profile, stage, work_dir=work_dir, output_dir=work_dir,
                                  overrides=overrides)
        check_values(stage, declared[stage], params)


@contextlib.contextmanager
def progress_echo(path: Path, prefix: str, *, echo: bool = True,
                  interval_s: float = 1.0) -> Iterator[None]:
    """While the block runs, print (with ``prefix``) each line that code in the kernel appends
    through :func:`moana.progress.report` (the file ``path`` is named to it in
    :data:`moana.progress.PROGRESS_ENV`); the file is removed afterwards."""
    from tqdm.auto import tqdm

    from moana.progress import PROGRESS_ENV

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    stop = threading.Event()
    offset = 0

    def pump() -> None:
        nonlocal offset
        while True:
            finished = stop.wait(interval_s)
            with open(path, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            offset += len(complete)
            for line in complete.decode("utf-8", "replace").splitlines():
                if echo:  # above papermill's cell bar, which then redraws below
                    tqdm.write(f"{prefix}{line}", file=sys.stdout)
            if finished:
                return

    thread = threading.Thread(target=pump, name="moana-progress", daemon=True)
    thread.start()
    try:
        with kernel_environment(**{PROGRESS_ENV: str(path)}):
            yield
    finally:
        stop.set()
        thread.join()
        path.unlink(missing_ok=True)


def _failure_sentence(err: BaseException) -> str:
    """The notebook's own error first: ``"ValueError: ... (cell In [5])"`` for papermill's
    execution error, else the exception's last line."""
    if getattr(err, "ename", None):
        lines = str(getattr(err, "evalue", "")).strip().splitlines()
        cell = getattr(err, "exec_count", None)
        return f"{err.ename}: {lines[-1] if lines else ''}" + (f" (cell In [{cell}])" if cell else "")
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1] if lines else ''}"


def _carry_over(results_dir: Path, staging: Path, previous: dict[str, Any],
                stages: Sequence[str]) -> dict[str, Any]:
    """``--only``: copy the other stages' published outputs into ``staging`` (without the files
    of the stages about to run); returns their manifest entries."""
    for name in MANAGED:
        src = results_dir / name
        if src.is_dir():
            shutil.copytree(src, staging / name)
        elif src.is_file():
            shutil.copy2(src, staging / name)
    kept = {k: v for k, v in previous["stages"].items() if k not in stages}
    for stage in stages:
        for rel in previous["stages"].get(stage, {}).get("files", []):
            (staging / rel).unlink(missing_ok=True)
    return kept


def _run_stage(run_one: Executor, profile: str, stage: str, *, notebooks_dir: Path,
               work_dir: Path, staging: Path, results_dir: Path,
               overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Execute one stage's notebook into ``staging``; its manifest entry. Raises
    :class:`StageFailed` (the executed copy kept under ``work_dir/failed``) when it fails."""
    params = stage_parameters(profile, stage, work_dir=work_dir, output_dir=staging,
                              overrides=overrides)
    before = _files(staging)
    out_nb = staging / "notebooks" / f"{stage}.ipynb"
    start = time.perf_counter()
    try:
        run_one(notebooks_dir / f"{stage}.ipynb", out_nb, params)
    except Exception as err:  # papermill's execution error, dead kernel, ...
        kept = work_dir / "failed" / f"{stage}.ipynb"
        if out_nb.is_file():
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(out_nb, kept)
        raise StageFailed(
            f"stage {stage} failed: {_failure_sentence(err)}; executed copy with the traceback: "
            f"{kept} (or rerun with --debug); results in {results_dir} untouched"
        ) from err
    from moana.reproduce.nbclean import publish_executed, relative_replacements

    publish_executed(out_nb, relative_replacements(
        {staging: results_dir, results_dir: results_dir, work_dir: work_dir,
         notebooks_dir: notebooks_dir, REPO_ROOT: REPO_ROOT}, cwd=notebooks_dir))
    files = sorted(_files(staging) - before) + _stage_outputs(stage)
    return {
        "profile": profile, "seconds": round(time.perf_counter() - start, 1),
        "files": sorted(set(files)),
        "parameters": {k: (os.path.relpath(work_dir, notebooks_dir) if k == "work_dir" else v)
                       for k, v in params.items() if k not in ("output_dir",)},
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _run(args: argparse.Namespace) -> int:
    overrides = dict(parse_override(item) for item in args.param or [])
    start = time.perf_counter()
    manifest = reproduce(  # StageFailed etc. become one line in moana.cli
        args.profile, results_dir=args.results, work_dir=args.work_dir, only=args.only,
        overrides=overrides, notebooks_dir=args.notebooks, kernel_name=args.kernel,
        log_output=args.log_output, progress_bar=False if args.quiet else None,
    )
    total = time.perf_counter() - start
    ran = ", ".join(f"{s} {manifest['stages'][s]['seconds']:.0f}s" for s in select_stages(args.only))
    print(f"[moana reproduce] wrote {args.results}/ in {total:.0f} s ({ran})")
    return 0


def register(subparsers: Any) -> None:
    """Add ``moana reproduce`` to the CLI."""
    parser = subparsers.add_parser(
        "reproduce", help="run notebooks/ with papermill and regenerate results/",
        description="Run the numbered notebooks in notebooks/ with papermill (executed copies in "
                    "results/notebooks/) and publish their tables, figures and README into results/ "
                    "only when every selected stage succeeded.",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="smoke",
                        help="smoke: synthetic data, CPU, minutes; paper: real datasets, GPU")
    parser.add_argument("--only", action="append", metavar="STAGE",
                        help="run only this stage (e.g. 03 or 03_attention_maps); repeatable "
                             "(default: every stage)")
    parser.add_argument("--results", default="results", help="published results folder")
    parser.add_argument("--work-dir", default="work",
                        help="intermediate datasets, runs and checkpoints (moana train's default "
                             "folder too)")
    parser.add_argument("-p", "--param", action="append", metavar="[STAGE.]NAME=VALUE",
                        help="override a notebook parameter (YAML value), e.g. -p 01.epochs=1; "
                             "checked against the notebook's parameters cell (name and type) "
                             "before any stage starts; repeatable")
    parser.add_argument("--notebooks", default=None, metavar="DIR",
                        help="folder of the numbered notebooks (default: the checkout's "
                             "notebooks/, else ./notebooks)")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    parser.add_argument("--log-output", action="store_true",
                        help="also stream every notebook's cell output to the terminal")
    parser.add_argument("--quiet", action="store_true",
                        help="no per-cell progress bar (also when CI is set); one line per stage")
    parser.set_defaults(func=_run)


# --- notebook metadata as JupyterLab writes it ----------------------------------------------

#: what ``python -m ipykernel install --name python3`` registers (and JupyterLab copies into a
#: notebook it saves)
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def language_info(python_version: str | None = None) -> dict[str, Any]:
    """The ``language_info`` the IPython kernel reports (JupyterLab stores it on save);
    ``python_version`` defaults to the running interpreter's (e.g. "3.11.7")."""
    version = python_version or ".".join(map(str, sys.version_info[:3]))
    return {"codemirror_mode": {"name": "ipython", "version": int(version.split(".")[0])},
            "file_extension": ".py", "mimetype": "text/x-python", "name": "python",
            "nbconvert_exporter": "python", "pygments_lexer": f"ipython{version.split('.')[0]}",
            "version": version}


def normalize_notebook_metadata(path: str | Path, *, python_version: str | None = None,
                                kernelspec: dict[str, str] | None = None) -> list[Path]:
    """Give a notebook (and its jupytext-paired ``.py``, when the notebook is paired) the
    kernelspec and ``language_info`` JupyterLab writes, in the bytes JupyterLab + jupytext
    write, so that opening and saving it in JupyterLab leaves git clean. ``path`` is the
    ``.ipynb``; outputs and cells are kept. Returns the files that changed."""
    import jupytext

    ipynb = Path(path).with_suffix(".ipynb")
    if not ipynb.is_file():
        raise FileNotFoundError(f"notebook {ipynb} not found")
    nb = jupytext.read(ipynb)
    nb.metadata["kernelspec"] = dict(kernelspec or KERNELSPEC)
    nb.metadata["language_info"] = language_info(python_version)
    targets = [(ipynb, "ipynb")]
    formats = str(nb.metadata.get("jupytext", {}).get("formats", ""))
    if "py:percent" in formats.split(","):
        targets.append((ipynb.with_suffix(".py"), "py:percent"))
    changed = []
    for target, fmt in targets:
        text = jupytext.writes(nb, fmt=fmt)
        if not text.endswith("\n"):
            text += "\n"
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            atomic_write_text(target, text)
            changed.append(target)
    return changed
