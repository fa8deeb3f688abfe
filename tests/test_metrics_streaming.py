"""The streaming evaluator of ``moana evaluate-scoremaps`` (moana.metrics.streaming): the same
metrics, bit for bit, at one and at two processes, and the same as the per-map evaluators."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from moana.data.metadata import load_wsol_metadata
from moana.metrics import BoxEvaluator, MaskEvaluator
from moana.metrics.commands import evaluate_scoremap_dir
from moana._parallel import idle_cpus
from moana.metrics.streaming import MAX_CHUNK, MIN_MAPS_PER_POOL, chunk_size, default_workers
from moana.scoremaps import load_scoremap, save_scoremap

SIZE = 64


def _same(a: dict, b: dict) -> bool:
    """Equal bit for bit (float reprs round-trip exactly; NaN equals NaN)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


def _blob_maps(folder: Path, ids: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for n, image_id in enumerate(ids):
        cx, cy = rng.uniform(10, SIZE - 10, 2)
        m = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / rng.uniform(30, 300))
        m += 0.2 * rng.random((SIZE, SIZE))
        save_scoremap(folder, image_id, (m - m.min()) / (m.max() - m.min()))


def _box_split(tmp_path: Path, num: int = 40) -> tuple[Path, Path]:
    ids = [f"c{k % 3}/{k}.jpg" for k in range(num)]
    meta = tmp_path / "meta"
    rng = np.random.default_rng(0)
    _write(meta / "image_ids.txt", ids)
    _write(meta / "class_labels.txt", [f"{i},{k % 3}" for k, i in enumerate(ids)])
    _write(meta / "image_sizes.txt", [f"{i},{2 * SIZE},{SIZE}" for i in ids])
    lines = []
    for i in ids:
        for _ in range(int(rng.integers(1, 3))):
            x0, y0 = rng.integers(0, SIZE), rng.integers(0, SIZE - 30)
            lines.append(f"{i},{x0},{y0},{x0 + rng.integers(10, SIZE)},{y0 + rng.integers(5, 30)}")
    _write(meta / "localization.txt", lines)
    _blob_maps(tmp_path / "maps", ids, 1)
    return tmp_path / "maps", meta


def test_box_metrics_identical_at_one_and_two_workers_and_to_the_evaluators(tmp_path):
    maps, meta = _box_split(tmp_path)
    assert chunk_size(40, 2) < 40  # several chunks at 2 workers
    one = evaluate_scoremap_dir(maps, meta, step=0.01, workers=1, curves=True, progress=False)
    two = evaluate_scoremap_dir(maps, meta, step=0.01, workers=2, curves=True, progress=False)
    assert _same(one, two)
    metadata = load_wsol_metadata(meta)
    for tag, multi in (("largest_contour", False), ("all_contours", True)):
        evaluator = BoxEvaluator(metadata, step=0.01, multi_contour=multi, image_size=SIZE)
        for image_id in metadata.image_ids:
            evaluator.accumulate(load_scoremap(maps, image_id), image_id)
        assert one[tag] == evaluator.compute()
    assert one["num_images"] == 40 and one["largest_contour"]["num_images"] == 40


def test_mask_metrics_identical_at_one_and_two_workers_and_to_the_evaluator(tmp_path):
    ids = [f"x/{k}.jpg" for k in range(24)]
    meta, masks = tmp_path / "meta", tmp_path / "masks"
    (masks / "x").mkdir(parents=True)
    rng = np.random.default_rng(3)
    lines = []
    for k, image_id in enumerate(ids):
        fg = np.zeros((50, 70), np.uint8)
        x0, y0 = rng.integers(0, 40, 2)
        fg[y0:y0 + 20, x0:x0 + 25] = 255
        cv2.imwrite(str(masks / "x" / f"{k}_m.png"), fg)
        ignore = ""
        if k % 2:
            ign = np.zeros_like(fg)
            ign[max(0, y0 - 5):y0 + 25, max(0, x0 - 5):x0 + 30] = 255
            cv2.imwrite(str(masks / "x" / f"{k}_i.png"), ign)
            ignore = f"x/{k}_i.png"
        lines.append(f"{image_id},x/{k}_m.png,{ignore}")
    _write(meta / "image_ids.txt", ids)
    _write(meta / "class_labels.txt", [f"{i},0" for i in ids])
    _write(meta / "image_sizes.txt", [])
    _write(meta / "localization.txt", lines)
    _blob_maps(tmp_path / "maps", ids, 4)
    kwargs = dict(step=0.01, mask_root=masks, curves=True, progress=False)
    one = evaluate_scoremap_dir(tmp_path / "maps", meta, workers=1, **kwargs)
    two = evaluate_scoremap_dir(tmp_path / "maps", meta, workers=2, **kwargs)
    assert _same(one, two)
    metadata = load_wsol_metadata(meta)
    evaluator = MaskEvaluator(metadata, masks, step=0.01, image_size=SIZE)
    for image_id in ids:
        evaluator.accumulate(load_scoremap(tmp_path / "maps", image_id), image_id)
    expected = evaluator.compute()
    assert [one[k] for k in ("PxAP", "PIoU", "PIoU_threshold")] == [
        expected[k] for k in ("PxAP", "PIoU", "PIoU_threshold")]
    assert _same(one["mask_curves"]["precision"], expected["precision"])


def test_a_bad_map_in_a_worker_names_its_file(tmp_path):
    maps, meta = _box_split(tmp_path, 20)
    np.save(maps / "c1" / "7.npy", np.full((SIZE, SIZE), 1.5))
    for workers in (1, 2):
        with pytest.raises(ValueError, match=r"7\.npy.*\[0, 1\]"):
            evaluate_scoremap_dir(maps, meta, step=0.01, workers=workers, progress=False)


def test_default_workers(monkeypatch):
    assert default_workers(1) == 1
    assert default_workers(MIN_MAPS_PER_POOL - 1) == 1
    monkeypatch.setattr("moana._parallel.usable_cpus", lambda: 4)
    for load, expected in ((0.0, 4), (1.2, 3), (3.6, 1), (9.0, 1)):
        monkeypatch.setattr("os.getloadavg", lambda load=load: (load, load, load))
        assert idle_cpus() == expected
        assert default_workers(10_000) == expected
    monkeypatch.setattr("os.getloadavg", lambda: (0.0, 0.0, 0.0))
    assert default_workers(2 * MAX_CHUNK) == 2  # at most one per chunk
