"""Time the IR-label step of the WSSS pipeline (IRN's ``cam_to_ir_label``: confident fg/bg maps
refined by the dense CRF) at 1 and N worker processes, on VOC-sized synthetic inputs.

    OMP_NUM_THREADS=1 python benchmarks/bench_wsss.py [--images 16] [--size 375 500] \\
        [--workers 1 2] [--runs 1]

Writes ``--images`` synthetic RGB images of ``--size`` (height width; VOC's typical 375x500) and
IRN-style CAM dicts (1-3 classes of smooth blobs at full resolution, IRN's ``high_res``) to a
temporary folder, then runs :func:`moana.wsss.ir_label.make_ir_labels` with IRN's defaults
(fg 0.30, bg 0.05, CRF on, kernel scale 1) once per worker count and run, the counts alternated
run by run. Prints per count the median wall time, seconds per image and the speed-up over one
worker, and whether every count wrote the same PNG bytes (it must). The pool's start-up is
included in the time (one pool per call). Needs pydensecrf2 (``pip install moana[crf]``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("TQDM_DISABLE", "1")  # read when tqdm is imported: no progress bars

from moana.wsss._io import save_npy_dict, voc_image_path  # noqa: E402
from moana.wsss.ir_label import crf_available, ir_label_path, make_ir_labels  # noqa: E402
from moana.wsss.make_cam import cam_path  # noqa: E402


def write_inputs(folder: Path, num: int, size: tuple[int, int], seed: int
                 ) -> tuple[Path, Path, list[str]]:
    """``num`` images (a few flat colour regions + noise) and CAM dicts whose blobs sit on
    the regions; returns (VOC root, CAM folder, ids)."""
    rng = np.random.default_rng(seed)
    root, cams = folder / "voc", folder / "cams"
    height, width = size
    yy, xx = np.mgrid[:height, :width]
    ids = [f"2007_{k:06d}" for k in range(num)]
    for image_id in ids:
        keys = np.sort(rng.choice(20, size=int(rng.integers(1, 4)), replace=False))
        image = np.empty((height, width, 3), np.float64)
        image[:] = rng.uniform(60, 200, 3)
        maps = []
        for _ in keys:
            cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
            sy, sx = rng.uniform(0.08, 0.25) * height, rng.uniform(0.08, 0.25) * width
            blob = np.exp(-((yy - cy) ** 2 / (2 * sy * sy) + (xx - cx) ** 2 / (2 * sx * sx)))
            image[blob > 0.4] = rng.uniform(0, 255, 3)
            maps.append(blob * rng.uniform(0.6, 1.0))
        image += rng.normal(0, 12, image.shape)
        path = voc_image_path(root, image_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, quality=90)
        high_res = np.stack(maps).astype(np.float32)
        cam_path(cams, image_id).parent.mkdir(parents=True, exist_ok=True)
        save_npy_dict(cam_path(cams, image_id), {"keys": keys, "cam": high_res[:, ::4, ::4],
                                                 "high_res": high_res})
    return root, cams, ids


def time_ir_labels(root: Path, cams: Path, ids: list[str], out: Path, workers: int
                   ) -> tuple[float, list[bytes]]:
    """Wall seconds of one make_ir_labels call (into an empty ``out``) and the PNG bytes."""
    start = time.perf_counter()
    written = make_ir_labels(cams, voc_root=root, image_ids=ids, out_dir=out, use_crf=True,
                             overwrite=True, num_workers=workers)
    seconds = time.perf_counter() - start
    assert written == len(ids)
    return seconds, [ir_label_path(out, i).read_bytes() for i in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--size", type=int, nargs=2, default=[375, 500],
                        metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=1, help="runs per worker count (median)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not crf_available():
        raise SystemExit("bench_wsss.py needs pydensecrf2 (pip install moana[crf])")
    with tempfile.TemporaryDirectory() as tmp:
        root, cams, ids = write_inputs(Path(tmp), args.images, tuple(args.size), args.seed)
        times: dict[int, list[float]] = {w: [] for w in args.workers}
        outputs: dict[int, list[bytes]] = {}
        print(f"# IR labels (CRF on, IRN's defaults): {args.images} images "
              f"{args.size[0]}x{args.size[1]}; {os.cpu_count()} CPUs; load average before: "
              f"{os.getloadavg()[0]:.2f}")
        for _ in range(args.runs):
            for w in args.workers:
                seconds, outputs[w] = time_ir_labels(root, cams, ids, Path(tmp) / f"ir{w}", w)
                times[w].append(seconds)
        one = statistics.median(times[args.workers[0]])
        print(f"{'workers':>8} {'wall s':>8} {'s/image':>8} {'speed-up':>9}")
        for w, values in times.items():
            wall = statistics.median(values)
            print(f"{w:>8} {wall:8.2f} {wall / args.images:8.3f} {one / wall:8.2f}x")
        same = all(outputs[w] == outputs[args.workers[0]] for w in args.workers)
        print(f"# same PNG bytes at every count: {same}; load average after: "
              f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
