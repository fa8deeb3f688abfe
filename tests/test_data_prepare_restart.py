"""``moana data prepare`` reruns repair what is missing (tiny archives made in the test)."""

from __future__ import annotations

import json
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from moana.data import archives, prepare
from moana.data.archives import ensure_extracted, marker_path, missing_members

from tests.test_data_prepare import _fake_cub


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    src = path.parent / f"{path.name}.src"
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    with tarfile.open(path, "w:gz") as tar:
        for name in files:
            tar.add(src / name, arcname=name)
    return path


FILES = {"top/a.txt": b"alpha", "top/sub/b.txt": b"bravo-bravo", "top/c.bin": bytes(300)}


def test_marker_lists_every_file_and_its_size(tmp_path):
    archive = _tar(tmp_path / "x.tgz", FILES)
    dest = tmp_path / "out"
    assert ensure_extracted(archive, dest) is True
    record = json.loads(marker_path(archive, dest).read_text())
    assert record["files"] == {name: len(data) for name, data in FILES.items()}
    assert record["size"] == archive.stat().st_size
    assert ensure_extracted(archive, dest) is False
    archive.unlink()  # everything is there: the archive is not needed any more
    assert ensure_extracted(archive, dest) is False


def test_deleted_and_truncated_files_are_restored_alone(tmp_path):
    archive = _tar(tmp_path / "x.tgz", FILES)
    dest = tmp_path / "out"
    ensure_extracted(archive, dest)
    (dest / "top/a.txt").unlink()
    (dest / "top/sub/b.txt").write_bytes(b"br")  # truncated
    (dest / "top/c.bin").write_bytes(b"\1" * 300)  # same size: kept (only sizes are recorded)
    assert missing_members(archive, dest) == ["top/a.txt", "top/sub/b.txt"]
    assert ensure_extracted(archive, dest) is True
    assert (dest / "top/a.txt").read_bytes() == b"alpha"
    assert (dest / "top/sub/b.txt").read_bytes() == FILES["top/sub/b.txt"]
    assert (dest / "top/c.bin").read_bytes() == b"\1" * 300  # untouched: not rewritten


def test_missing_archive_is_named_with_the_first_missing_file(tmp_path):
    archive = _tar(tmp_path / "x.tgz", FILES)
    dest = tmp_path / "out"
    ensure_extracted(archive, dest)
    archive.unlink()
    (dest / "top/sub/b.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"x\.tgz is missing and 1 file\(s\) extracted "
                                                r"from it are missing, e\.g\. .*top/sub/b\.txt"):
        ensure_extracted(archive, dest, hint=" (download it)")
    with pytest.raises(FileNotFoundError, match="has not been extracted into"):
        ensure_extracted(archive, tmp_path / "elsewhere")


def test_interrupted_extraction_is_finished_by_a_rerun(tmp_path, monkeypatch):
    archive = _tar(tmp_path / "x.tgz", FILES)
    dest = tmp_path / "out"
    real, calls = archives._copy, []

    def dies_on_second(handle, tmp):
        calls.append(tmp)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(handle, tmp)

    monkeypatch.setattr(archives, "_copy", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        ensure_extracted(archive, dest)
    assert not marker_path(archive, dest).exists()
    assert not list(dest.rglob(".*.txt"))  # no half-written temporary file left
    monkeypatch.setattr(archives, "_copy", real)
    assert ensure_extracted(archive, dest) is True
    assert missing_members(archive, dest) == []


def test_routes_and_refused_members(tmp_path):
    archive = _tar(tmp_path / "x.tgz", FILES)
    ensure_extracted(archive, tmp_path / "stage",
                     routes=[("top/sub/", tmp_path / "images"), ("", tmp_path / "stage")])
    assert (tmp_path / "images" / "b.txt").is_file()
    assert not (tmp_path / "stage" / "top" / "sub").exists()
    assert archives.single_top_folder(archive) == "top"
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../outside.txt", b"x")
    with pytest.raises(ValueError, match=r"evil\.zip: member '\.\./outside\.txt' escapes"):
        ensure_extracted(evil, tmp_path / "z")
    assert not (tmp_path / "outside.txt").exists()


def _cub_archive(reference_dir: Path, tmp_path: Path) -> Path:
    _fake_cub(reference_dir, tmp_path / "src" / "CUB_200_2011")
    archive = tmp_path / "CUB_200_2011.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "CUB_200_2011", arcname="CUB_200_2011")
    return archive


def test_cub_rerun_restores_deleted_images(reference_dir, tmp_path):
    archive = _cub_archive(reference_dir, tmp_path)
    root = tmp_path / "data"
    prepare.prepare_cub(root, archive, verify=False)
    images = sorted((root / "CUB").rglob("*.jpg"))
    assert len(images) == 6 and not list((root / "_extracted").rglob("*.jpg"))  # no copies
    images[0].unlink()
    prepare.prepare_cub(root, archive, verify=False)
    assert images[0].is_file()
    # an older marker (the archive size only) with the images moved out of the staging folder
    for path in (root / "CUB").rglob("*.jpg"):
        path.unlink()
    marker_path(archive, root / "_extracted").write_text(f"{archive.stat().st_size}\n")
    prepare.prepare_cub(root, archive, verify=False)
    assert all(p.is_file() for p in images)
    images[1].unlink()
    archive.rename(tmp_path / "elsewhere.tgz")
    with pytest.raises(FileNotFoundError, match=r"CUB_200_2011\.tgz is missing and 1 file.* "
                                                rf"{re.escape(str(images[1]))} .*download CUB_200_2011\.tgz"):
        prepare.prepare_cub(root, archive, verify=False)


def test_ilsvrc_train_inner_tars_may_be_deleted(tmp_path):
    inner = {name: _tar(tmp_path / "inner" / f"{name}.tar", {f"{name}_1.JPEG": b"img"})
             for name in ("n01", "n02")}
    outer = tmp_path / "ILSVRC2012_img_train.tar"
    with tarfile.open(outer, "w") as tar:
        for name, path in inner.items():
            tar.add(path, arcname=f"{name}.tar")
    base = tmp_path / "root" / "ILSVRC"
    prepare._extract_ilsvrc_train(outer, base, verify=False)
    assert (base / "train" / "n02" / "n02_1.JPEG").read_bytes() == b"img"
    for path in (base / "_train_tars").glob("n*.tar"):
        path.unlink()  # a user saving disk space
    outer.rename(tmp_path / "gone.tar")
    prepare._extract_ilsvrc_train(outer, base, verify=False)  # complete: nothing to read
    (base / "train" / "n01" / "n01_1.JPEG").unlink()
    (tmp_path / "gone.tar").rename(outer)
    prepare._extract_ilsvrc_train(outer, base, verify=False)
    assert (base / "train" / "n01" / "n01_1.JPEG").is_file()


def test_cli_rerun_names_what_it_needs(reference_dir, tmp_path, capsys):
    from tests.test_data_prepare import _script

    archive = _cub_archive(reference_dir, tmp_path)
    root = tmp_path / "data"
    args = ["--archive", str(archive), "--root", str(root), "--skip-checksum"]
    cub = _script("cub")
    assert cub.main(args) == 0
    victim = sorted((root / "CUB").rglob("*.jpg"))[2]
    victim.unlink()
    assert cub.main(args) == 0 and victim.is_file()  # repaired from the archive
    victim.unlink()
    archive.unlink()
    assert cub.main(args) == 1
    err = capsys.readouterr().err
    assert "CUB_200_2011.tgz is missing" in err and victim.name in err
    assert "Traceback" not in err


def test_voc_rerun_restores_a_deleted_image(tmp_path):
    from PIL import Image

    src = tmp_path / "src" / "VOCdevkit" / "VOC2012"
    (src / "JPEGImages").mkdir(parents=True)
    (src / "SegmentationClass").mkdir()
    (src / "ImageSets" / "Segmentation").mkdir(parents=True)
    Image.new("RGB", (4, 3)).save(src / "JPEGImages" / "2007_000001.jpg")
    Image.new("P", (4, 3)).save(src / "SegmentationClass" / "2007_000001.png")
    (src / "ImageSets" / "Segmentation" / "train.txt").write_text("2007_000001\n")
    archive = tmp_path / "VOCtrainval_11-May-2012.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "src" / "VOCdevkit", arcname="VOCdevkit")
    root = tmp_path / "voc"
    prepare.prepare_voc(root, archive, verify=False)
    image = root / "VOCdevkit" / "VOC2012" / "JPEGImages" / "2007_000001.jpg"
    image.unlink()
    prepare.prepare_voc(root, archive, verify=False)
    assert image.is_file()
