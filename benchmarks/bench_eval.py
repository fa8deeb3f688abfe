"""Time moana.metrics.BoxEvaluator against the reference algorithm (moana.metrics.reference:
wsolevaluation's per-image, per-threshold findContours) on random 224x224 maps with blobs.

    .venv/bin/python benchmarks/bench_eval.py --num-maps 500 --steps 0.001 0.01 --workers 2

Prints, per threshold step and contour mode, seconds per map for both paths, the ratio measured
in this run, and whether the accuracy curves are equal (they must be). ``--reference-maps K``
times the slow path on the first K maps only (its per-map time is then scaled to all maps; the
equality check covers those K maps) — the full 500 maps at step 0.001 take minutes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from moana.data.metadata import WSOLMetadata
from moana.metrics import BoxEvaluator
from moana.metrics.reference import reference_max_box_acc

SIZE = 224


def random_maps(n: int, seed: int = 0, noise: float = 0.1) -> tuple[list[np.ndarray], list]:
    """Maps: 1-4 Gaussian blobs + uniform pixel noise, min-max normalized; one or two GT boxes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    maps, boxes = [], []
    for _ in range(n):
        m = np.zeros((SIZE, SIZE))
        for _ in range(rng.integers(1, 5)):
            cx, cy = rng.uniform(0, SIZE, 2)
            s = rng.uniform(6, 50)
            m += rng.uniform(0.3, 1) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        m += noise * rng.random((SIZE, SIZE))
        m -= m.min()
        maps.append(m / m.max())
        k = int(rng.integers(1, 3))
        x0, y0 = rng.integers(0, SIZE - 40, k), rng.integers(0, SIZE - 40, k)
        w, h = rng.integers(30, SIZE, k), rng.integers(30, SIZE, k)
        boxes.append([(int(a), int(b), int(min(a + c, SIZE - 1)), int(min(b + d, SIZE - 1)))
                      for a, b, c, d in zip(x0, y0, w, h)])
    return maps, boxes


def run_fast(maps, boxes, thresholds, multi, workers):
    ids = [f"img{i}.jpg" for i in range(len(maps))]
    meta = WSOLMetadata(directory=Path("bench"), image_ids=ids, class_labels={i: 0 for i in ids},
                        image_sizes={i: (SIZE, SIZE) for i in ids}, boxes=dict(zip(ids, boxes)))
    start = time.perf_counter()
    with BoxEvaluator(meta, thresholds, multi_contour=multi, workers=workers) as ev:
        ev.accumulate_batch(maps, ids)
        result = ev.compute()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-maps", type=int, default=500)
    parser.add_argument("--reference-maps", type=int, default=None,
                        help="time the slow path on this many maps only (default: all)")
    parser.add_argument("--steps", type=float, nargs="+", default=[0.001, 0.01])
    parser.add_argument("--modes", nargs="+", default=["all", "largest"],
                        choices=["all", "largest"], help="all contours (V2) / largest contour")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    maps, boxes = random_maps(args.num_maps, args.seed, args.noise)
    n_ref = min(args.reference_maps or args.num_maps, args.num_maps)
    start = time.perf_counter()
    for multi in (True, False):  # numba JIT compile / cache load of both contour modes
        run_fast(maps[:1], boxes[:1], np.arange(0, 1, 0.1), multi, 1)
    print(f"# warm-up (JIT compile or cache load): {time.perf_counter() - start:.2f} s")
    print(f"# {args.num_maps} maps {SIZE}x{SIZE}, noise {args.noise}; reference timed on {n_ref}")
    print("step   mode     reference s/map  fast(1 proc) s/map  fast({w} proc) s/map  "
          "ratio(1)  ratio({w})  equal".format(w=args.workers))
    for step in args.steps:
        thresholds = np.arange(0, 1, step)
        for mode in args.modes:
            multi = mode == "all"
            t0 = time.perf_counter()
            ref = reference_max_box_acc(maps[:n_ref], boxes[:n_ref], thresholds, (30, 50, 70), multi)
            t_ref = (time.perf_counter() - t0) / n_ref
            t_one, _ = run_fast(maps, boxes, thresholds, multi, 1)
            t_one /= args.num_maps
            t_par, result = run_fast(maps, boxes, thresholds, multi, args.workers)
            t_par /= args.num_maps
            _, check = run_fast(maps[:n_ref], boxes[:n_ref], thresholds, multi, 1)
            equal = all(np.array_equal(np.array(check["curves"][str(d)]), ref[d])
                        for d in (30, 50, 70))
            print(f"{step:<6} {mode:<8} {t_ref:15.4f}  {t_one:18.4f}  {t_par:19.4f}  "
                  f"{t_ref / t_one:8.1f}  {t_ref / t_par:9.1f}  {equal}")
            if mode == "all":
                print(f"#   MaxBoxAccV2 = {result['MaxBoxAccV2']:.4f}")
            else:
                print(f"#   MaxBoxAcc = {result['MaxBoxAcc@50']:.4f}")


if __name__ == "__main__":
    main()
