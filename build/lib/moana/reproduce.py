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
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from moana.io import atomic_write_text
from moana.profiles import PROFILES, STAGES, parse_override, stage_name, stage_parameters

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
#: what the runner owns inside results/; anything else there is left alone.
MANAGED = ("tables", "figures", "notebooks", "manifest.json", "README.md")
MANIFEST = "manifest.json"


class StageFailed(RuntimeError):
    """A notebook raised; the message names the stage and where its executed copy was kept."""


def git_commit(repo: Path = REPO_ROOT) -> str:
    """``<sha>`` of HEAD (``+dirty`` when the tree has changes), or ``"uncommitted"``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "uncommitted"
    return sha + ("+dirty" if dirty else "")


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


def papermill_executor(kernel_name: str = "python3", log_output: bool = False) -> Executor:
    """Run a notebook with papermill in its own folder (relative defaults resolve there)."""

    def execute(notebook: Path, output: Path, parameters: dict[str, Any]) -> None:
        import papermill as pm

        pm.execute_notebook(str(notebook), str(output), parameters=parameters,
                            kernel_name=kernel_name, cwd=str(notebook.parent),
                            progress_bar=False, log_output=log_output)

    return execute


def select_stages(only: Sequence[str] | None) -> list[str]:
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
    notebooks_dir: str | Path = NOTEBOOKS_DIR,
    kernel_name: str = "python3",
    log_output: bool = False,
    echo: bool = True,
    execute: Executor | None = None,
) -> dict[str, Any]:
    """Run the stages of ``profile`` and publish into ``results_dir``; return the manifest.

    ``execute(notebook, executed_copy, parameters)`` runs one notebook (default: papermill with
    ``kernel_name``, in the notebooks folder). Raises :class:`StageFailed` (results untouched)
    when a notebook fails.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    results_dir = Path(results_dir).resolve()
    work_dir = Path(work_dir).resolve()
    notebooks_dir = Path(notebooks_dir).resolve()
    stages = select_stages(only)
    for stage in stages:
        if not (notebooks_dir / f"{stage}.ipynb").is_file():
            raise FileNotFoundError(f"{notebooks_dir / (stage + '.ipynb')} not found")
    if results_dir == work_dir or work_dir in results_dir.parents or results_dir in work_dir.parents:
        raise ValueError(f"work dir {work_dir} and results dir {results_dir} must not contain each other")

    previous = _read_manifest(results_dir)
    results_dir.parent.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=results_dir.parent, prefix=f".{results_dir.name}.staging-"))
    manifest: dict[str, Any] = {"stages": {}}
    try:
        if only:  # carry the other stages' outputs over
            for name in MANAGED:
                src = results_dir / name
                if src.is_dir():
                    shutil.copytree(src, staging / name)
                elif src.is_file():
                    shutil.copy2(src, staging / name)
            manifest["stages"] = {k: v for k, v in previous["stages"].items() if k not in stages}
            for stage in stages:
                for rel in previous["stages"].get(stage, {}).get("files", []):
                    (staging / rel).unlink(missing_ok=True)
        (staging / "notebooks").mkdir(exist_ok=True)
        for stage in stages:
            params = stage_parameters(profile, stage, work_dir=work_dir, output_dir=staging,
                                      overrides=overrides)
            before = _files(staging)
            out_nb = staging / "notebooks" / f"{stage}.ipynb"
            if echo:
                print(f"[moana reproduce] {stage} ({profile}) ...", flush=True)
            start = time.perf_counter()
            try:
                (execute or papermill_executor(kernel_name, log_output))(
                    notebooks_dir / f"{stage}.ipynb", out_nb, params)
            except Exception as err:  # papermill's execution error, dead kernel, ...
                kept = work_dir / "failed" / f"{stage}.ipynb"
                if out_nb.is_file():
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(out_nb, kept)
                raise StageFailed(
                    f"stage {stage} failed ({type(err).__name__}): {str(err).strip()[-2000:]}\n"
                    f"executed copy with the traceback: {kept}; results in {results_dir} untouched"
                ) from err
            seconds = time.perf_counter() - start
            files = sorted(_files(staging) - before) + _stage_outputs(stage)
            manifest["stages"][stage] = {
                "profile": profile, "seconds": round(seconds, 1), "files": sorted(set(files)),
                "parameters": {k: v for k, v in params.items() if k not in ("output_dir",)},
                "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
            if echo:
                print(f"[moana reproduce] {stage} done in {seconds:.1f} s", flush=True)
        manifest["stages"] = {s: manifest["stages"][s] for s in STAGES if s in manifest["stages"]}
        manifest.update(profile=profile, commit=git_commit(),
                        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                        work_dir=str(work_dir))
        _write_json(staging / MANIFEST, manifest)
        from moana.viz.report import write_results_readme

        write_results_readme(staging, manifest)
        _swap_in(staging, results_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _run(args: argparse.Namespace) -> int:
    overrides = dict(parse_override(item) for item in args.param or [])
    start = time.perf_counter()
    try:
        manifest = reproduce(
            args.profile, results_dir=args.results, work_dir=args.work_dir, only=args.only,
            overrides=overrides, notebooks_dir=args.notebooks, kernel_name=args.kernel,
            log_output=args.log_output,
        )
    except StageFailed as err:
        print(f"moana reproduce: {err}", file=sys.stderr)
        return 1
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
                        help="run only this stage (e.g. 03 or 03_attention_maps); repeatable")
    parser.add_argument("--results", default="results", help="published results folder (default results)")
    parser.add_argument("--work-dir", default="work",
                        help="intermediate datasets, runs and checkpoints (default ./work)")
    parser.add_argument("-p", "--param", action="append", metavar="[STAGE.]NAME=VALUE",
                        help="override a notebook parameter (YAML value), e.g. -p 01.epochs=1")
    parser.add_argument("--notebooks", default=str(NOTEBOOKS_DIR), help=argparse.SUPPRESS)
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    parser.add_argument("--log-output", action="store_true", help="stream notebook output")
    parser.set_defaults(func=_run)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moana.reproduce")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["reproduce", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
