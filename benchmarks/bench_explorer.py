"""Redraw time of the attention explorer (moana.viz.explorer.Explorer), headless.

    python benchmarks/bench_explorer.py [--images 4] [--classes 200] [--channels 2048]

Synthetic explorer data at the paper's sizes (224 px images, 28x28 class maps of K classes, a
MoANA attention of C channels on a 28x28 map) stand in for a trained model's; the script sets
each control in turn (image, method, class, threshold, attention) as a user would and prints
the median and maximum seconds per update (render + PNG encoding, what the notebook waits for),
wall-clock and CPU time of this process.
"""

from __future__ import annotations

import argparse
import statistics

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from moana.viz.explorer import Explorer, ExplorerData  # noqa: E402


def synthetic_data(n: int, k: int, c: int, side: int = 28, size: int = 224) -> ExplorerData:
    rng = np.random.default_rng(0)
    maps = rng.random((n, k, side, side)).astype(np.float32)
    yy, xx = np.mgrid[:side, :side]
    maps[:, :] += 3 * np.exp(-((xx - 12) ** 2 + (yy - 14) ** 2) / 30.0).astype(np.float32)
    att = [{"c": rng.random((c, 1, 1)).astype(np.float32),
            "h": rng.random((c, side, 1)).astype(np.float32),
            "w": rng.random((c, 1, side)).astype(np.float32),
            "map": rng.random((c, side, side)).astype(np.float32)} for _ in range(n)]
    return ExplorerData(
        images=[rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(n)],
        image_ids=[f"img{i}.jpg" for i in range(n)], labels=[int(i % k) for i in range(n)],
        gt_boxes=[np.array([[40, 50, 180, 200]], float)] * n,
        class_maps={"cam": maps, "moana": maps[:, :, ::-1].copy()}, attentions={"moana": att})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="images in the explorer")
    parser.add_argument("--classes", type=int, default=200, help="classes K")
    parser.add_argument("--channels", type=int, default=2048, help="attention channels C")
    args = parser.parse_args()
    explorer = Explorer(synthetic_data(args.images, args.classes, args.channels),
                        thresholds={"cam": 0.2, "moana": 0.1})
    times, cpus = {}, []
    steps = [("image", 1), ("image", 2), ("method", "cam"), ("method", "moana"),
             ("class_index", 3), ("threshold", 0.35), ("threshold", 0.5), ("attention", "c"),
             ("attention", "h"), ("attention", "w"), ("attention", "map"), ("image", 1),
             ("attention", "none")]
    for name, value in steps:
        getattr(explorer, name).value = value
        times.setdefault(name, []).append(explorer.last_update_s)
        cpus.append(explorer.last_update_cpu_s)
    every = [t for ts in times.values() for t in ts]
    print(f"# {args.images} images, K={args.classes}, C={args.channels}; {len(every)} updates")
    for name, ts in times.items():
        print(f"explorer update ({name:<11}): median {statistics.median(ts):.3f} s, "
              f"max {max(ts):.3f} s")
    print(f"explorer update (all): median {statistics.median(every):.3f} s, max {max(every):.3f} s "
          f"wall; CPU median {statistics.median(cpus):.3f} s, max {max(cpus):.3f} s "
          f"(wall includes waiting for a busy CPU)")


if __name__ == "__main__":
    main()
