"""Restartable archive extraction for ``moana data prepare``.

:func:`ensure_extracted` extracts a tar/zip archive's regular files into target folders
(``routes``: an archive prefix -> a folder, so images land where they are used and no move
empties a staging folder) and writes a marker ``<dest>/.extracted-<archive name>`` (JSON: the
archive's size and every extracted file with its size, relative to ``dest``). A rerun reads the
marker and checks every listed file: when all are present with their sizes nothing is read
(the archive may even be gone); otherwise only the missing or truncated files are extracted
again, and when the archive is needed but absent the error names it and the first missing
file. An interrupted extraction leaves no marker, so the rerun extracts everything again.
"""

from __future__ import annotations

import json
import os
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from moana import io

__all__ = ["marker_path", "missing_members", "recorded_files", "ensure_extracted", "single_top_folder"]

Route = tuple[str, Path]
MARKER_VERSION = 2


def marker_path(archive: Path, dest: Path) -> Path:
    """Where the extraction record of ``archive`` into ``dest`` is kept."""
    return Path(dest) / f".extracted-{Path(archive).name}"


def _read_marker(marker: Path) -> dict | None:
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent, or an older marker holding only the archive size
    if not isinstance(record, dict) or record.get("version") != MARKER_VERSION:
        return None
    return record


def missing_members(archive: Path | str, dest: Path | str) -> list[str] | None:
    """Files of a recorded extraction that are missing or have another size (paths relative to
    ``dest``); ``None`` when there is no (readable) record, or the archive present on disk has
    another size than the one recorded."""
    archive, dest = Path(archive), Path(dest)
    record = _read_marker(marker_path(archive, dest))
    if record is None:
        return None
    if archive.is_file() and archive.stat().st_size != record.get("size"):
        return None
    missing = []
    for rel, size in record.get("files", {}).items():
        path = dest / rel
        try:
            if path.stat().st_size != size:
                missing.append(rel)
        except OSError:
            missing.append(rel)
    return missing


def recorded_files(archive: Path | str, dest: Path | str) -> list[str] | None:
    """Every file of a recorded extraction (relative to ``dest``); ``None`` without a record."""
    record = _read_marker(marker_path(Path(archive), Path(dest)))
    return None if record is None else list(record.get("files", {}))


def _target(name: str, routes: Sequence[Route]) -> Path | None:
    if name.startswith("./"):
        name = name[2:]
    for prefix, folder in routes:
        if name.startswith(prefix) and len(name) > len(prefix):
            rest = PurePosixPath(name[len(prefix):])
            if rest.is_absolute() or ".." in rest.parts:
                raise ValueError(f"member {name!r} escapes the target folder")
            return Path(folder) / rest
    return None


def _regular_files(path: Path):
    """(name, size, open()) of the archive's regular files, in archive order (one pass)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield info.filename, info.file_size, lambda i=info: archive.open(i)
        return
    with tarfile.open(path) as archive:
        for member in archive:
            if member.isfile():
                yield member.name, member.size, lambda m=member: archive.extractfile(m)


def single_top_folder(path: Path | str) -> str | None:
    """The one top-level folder holding every file of the archive (``None`` if there is not
    one): e.g. ImageNetV2's ``imagenetv2-matched-frequency-format-val``."""
    parts = [PurePosixPath(name.removeprefix("./")).parts
             for name, _, _ in _regular_files(Path(path))]
    tops = {p[0] for p in parts if len(p) > 1}
    return tops.pop() if len(tops) == 1 and all(len(p) > 1 for p in parts) else None


def _copy(handle, tmp: Path) -> None:
    with handle, open(tmp, "wb") as out:
        while chunk := handle.read(1 << 20):
            out.write(chunk)


def _extract(path: Path, routes: Sequence[Route], keep: Callable[[Path], bool]
             ) -> dict[Path, int]:
    """Write the routed regular files that ``keep`` accepts (atomically); returns every routed
    file's target and size."""
    files = {}
    for name, size, open_member in _regular_files(path):
        target = _target(name, routes)
        if target is None:
            continue
        files[target] = size
        if keep(target):
            io.atomic_write(target, lambda tmp, o=open_member: _copy(o(), tmp))
    return files


def ensure_extracted(archive: Path | str, dest: Path | str, *,
                     routes: Sequence[Route] | None = None,
                     check: Callable[[Path], object] | None = None,
                     hint: str = "") -> bool:
    """Make sure every file of ``archive`` is extracted; True if anything was extracted now.

    ``routes`` (default: everything into ``dest``) maps archive prefixes to folders, first
    match wins; members matching none are skipped. ``check(archive)`` (e.g.
    :func:`moana.data.prepare.check_archive`) runs only when the archive must be read.
    Raises FileNotFoundError naming the archive and the first missing file when the archive
    is needed but absent, ValueError for a truncated or corrupt archive or a member that
    would land outside its folder.
    """
    archive, dest = Path(archive), Path(dest)
    routes = list(routes) if routes is not None else [("", dest)]
    missing = missing_members(archive, dest)
    if missing == []:
        return False
    if not archive.is_file():
        what = (f"{len(missing)} file(s) extracted from it are missing, e.g. {os.path.normpath(dest / missing[0])}"
                if missing else f"it has not been extracted into {dest}")
        raise FileNotFoundError(f"archive {archive} is missing and {what}{hint}")
    if check is not None:
        check(archive)
    repair = set(missing or ())
    try:
        files = _extract(archive, routes,
                         lambda target: missing is None or _rel(target, dest) in repair)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{archive} is truncated or corrupt ({err}); download it again") from err
    except ValueError as err:
        raise ValueError(f"{archive}: {err}") from err
    record = {"version": MARKER_VERSION, "archive": archive.name, "size": archive.stat().st_size,
              "files": {_rel(t, dest): s for t, s in files.items()}}
    io.atomic_write_text(marker_path(archive, dest), json.dumps(record, indent=0))
    return True


def _rel(path: Path, dest: Path) -> str:
    return Path(os.path.relpath(path, dest)).as_posix()
