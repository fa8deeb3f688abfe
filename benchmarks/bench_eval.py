"""Time moana.metrics.BoxEvaluator against the reference algorithm (moana.metrics.reference:
wsolevaluation's per-image, per-threshold findContours) on random 224x224 maps with blobs.

    .venv/bin/python benchmarks/bench_eval.py --num-maps 500 --steps 0.001 0.01 --workers 2
    .venv/bin/python benchmarks/bench_eval.py --end-to-end 300 --skip-per-map

Per map: per threshold step and contour mode, seconds per map for both paths, the ratio measured
in this run, and whether the accuracy curves are equal (they must be). ``--reference-maps K``
times the slow path on the first K maps only (its per-map time is then scaled to all maps; the
equality check covers those K maps) — the full 500 maps at step 0.001 take minutes.

End to end (``--end-to-end N``): N CAM-like score maps (a 28x28 map of blobs and noise upsampled
by the CAM pipeline, :func:`moana.cam.scoremap_from_cam`) and a wsolevaluation metadata split are
written to a temporary folder; then ``moana evaluate-scoremaps --step 0.001`` (MaxBoxAcc and
MaxBoxAccV2) runs as a whole process, start-up included, against the reference run the same way:
a process that reads the same files and evaluates them with moana.metrics.reference, the
line-by-line re-statement of wsolevaluation's algorithm (wsolevaluation itself does not run on
NumPy 2), both contour modes, one process, numba not imported. The ratio of the wall times and
whether both processes print the same MaxBoxAcc / MaxBoxAccV2 are reported.

Scaling (``--scaling 1000 5000 10000``): for each number of maps, whole ``moana
evaluate-scoremaps --step 0.001`` processes at ``--workers 1``, ``--workers 2`` and the default
(no ``--workers``), alternated run by run; wall time, CPU time and peak RSS (``ru_maxrss`` from
``os.wait4``: the largest of the command's process and its worker processes), the speed-up of
each setting over one worker, and each size's peak RSS relative to the smallest size's.

    .venv/bin/python benchmarks/bench_eval.py --skip-per-map --scaling 1000 5000 10000

The split's maps are ``--scaling-distinct`` (default 1,000) distinct CAM-like maps, repeated
as hard links under new image ids beyond that (so that 10,000 maps need not take 4 GB of disk);
every map is read and scored as its own file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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


def cam_like_maps(n: int, seed: int = 0, cam_size: int = 28) -> tuple[list[np.ndarray], list]:
    """CAM-like score maps: a cam_size x cam_size map (1-3 blobs + 0.15 uniform noise) through
    the CAM pipeline (bicubic to 224, min-max); one or two GT boxes each."""
    from moana.cam import scoremap_from_cam

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:cam_size, :cam_size]
    maps, boxes = [], []
    for _ in range(n):
        cam = 0.15 * rng.random((cam_size, cam_size))
        for _ in range(rng.integers(1, 4)):
            cx, cy = rng.uniform(0, cam_size, 2)
            s = rng.uniform(1.5, 6) * cam_size / 28
            cam += rng.uniform(0.3, 1) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        maps.append(scoremap_from_cam(cam, "minmax", size=(SIZE, SIZE)))
        k = int(rng.integers(1, 3))
        x0, y0 = rng.integers(0, SIZE - 40, k), rng.integers(0, SIZE - 40, k)
        w, h = rng.integers(30, SIZE, k), rng.integers(30, SIZE, k)
        boxes.append([(int(a), int(b), int(min(a + c, SIZE - 1)), int(min(b + d, SIZE - 1)))
                      for a, b, c, d in zip(x0, y0, w, h)])
    return maps, boxes


def write_split(folder: Path, maps: list[np.ndarray], boxes: list) -> tuple[Path, Path]:
    """<folder>/scoremaps/<id>.npy and a wsolevaluation metadata split <folder>/metadata."""
    scoremaps, meta = folder / "scoremaps", folder / "metadata"
    scoremaps.mkdir(parents=True)
    meta.mkdir(parents=True)
    ids = [f"img{i:04d}.jpg" for i in range(len(maps))]
    for image_id, m in zip(ids, maps):
        np.save(scoremaps / image_id.replace(".jpg", ".npy"), m)
    (meta / "image_ids.txt").write_text("\n".join(ids) + "\n")
    (meta / "class_labels.txt").write_text("".join(f"{i},0\n" for i in ids))
    (meta / "image_sizes.txt").write_text("".join(f"{i},{SIZE},{SIZE}\n" for i in ids))
    (meta / "localization.txt").write_text("".join(
        f"{i},{b[0]},{b[1]},{b[2]},{b[3]}\n" for i, bs in zip(ids, boxes) for b in bs))
    return scoremaps, meta


def reference_process(scoremaps: Path, metadata: Path, step: float) -> dict:
    """What the reference run does in its own process: read the split and the maps, evaluate
    both contour modes with moana.metrics.reference, return MaxBoxAcc and MaxBoxAccV2."""
    from moana.metrics.reference import reference_max_box_acc

    ids = (metadata / "image_ids.txt").read_text().split()
    gt: dict[str, list] = {}
    for line in (metadata / "localization.txt").read_text().split():
        image_id, *coords = line.split(",")
        gt.setdefault(image_id, []).append([int(float(c)) for c in coords])
    maps = [np.load(scoremaps / i.replace(".jpg", ".npy")) for i in ids]
    thresholds = np.arange(0, 1, step)
    largest = reference_max_box_acc(maps, [gt[i] for i in ids], thresholds, (30, 50, 70), False)
    every = reference_max_box_acc(maps, [gt[i] for i in ids], thresholds, (30, 50, 70), True)
    return {"MaxBoxAcc": float(largest[50].max()),
            "MaxBoxAccV2": float(np.mean([every[d].max() for d in (30, 50, 70)]))}


def _timed(command: list[str], env: dict[str, str],
           cwd: Path | None = None) -> tuple[float, float, dict]:
    """Wall seconds, CPU seconds (user + system of the process and the worker processes it
    waited for: robust to other load on the machine) and the printed JSON."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(command, env=env, capture_output=True, text=True, cwd=cwd)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {out.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, json.loads(out.stdout)


def end_to_end(n: int, step: float, workers: list[int], runs: int, seed: int,
               kind: str = "cam", baseline: Path | None = None) -> None:
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as tmp:
        maps = cam_like_maps(n, seed) if kind == "cam" else random_maps(n, seed)
        scoremaps, meta = write_split(Path(tmp), *maps)
        fast = [sys.executable, "-m", "moana", "evaluate-scoremaps", "--scoremaps", str(scoremaps),
                "--metadata", str(meta), "--step", str(step), "--quiet"]
        # numba compile or cache load; when cold, the ahead-of-time build of the kernels
        first, _, _ = _timed([*fast, "--workers", "1"], env)
        print(f"# end to end: {n} {'CAM-like' if kind == 'cam' else 'full-resolution noisy'} "
              f"maps, step {step}, both contour modes; whole processes (python start-up, "
              f"imports, reading the files included)")
        print(f"# first moana run (numba cache fill and ahead-of-time build when cold): "
              f"{first:.2f} s")
        one_maps, one_meta = write_split(Path(tmp) / "one", maps[0][:1], maps[1][:1])
        one = [*fast[:4], "--scoremaps", str(one_maps), "--metadata", str(one_meta),
               *fast[8:], "--workers", "1"]
        starts = [_timed(one, env)[:2] for _ in range(runs)]
        print(f"start-up (the same command on 1 map): wall "
              f"{statistics.median(w for w, _ in starts):.2f} s, CPU "
              f"{statistics.median(c for _, c in starts):.2f} s (medians of {runs})")
        fast_times: dict[int, tuple[float, float]] = {}
        for w in workers:
            walls, cpus = [], []
            for _ in range(runs):
                seconds, cpu, result = _timed([*fast, "--workers", str(w)], env)
                walls.append(seconds)
                cpus.append(cpu)
            fast_times[w] = statistics.median(walls), statistics.median(cpus)
            print(f"moana evaluate-scoremaps --workers {w}: wall {fast_times[w][0]:8.2f} s, "
                  f"CPU {fast_times[w][1]:8.2f} s (medians of {runs})  "
                  f"MaxBoxAcc {result['MaxBoxAcc']:.4f}  MaxBoxAccV2 {result['MaxBoxAccV2']:.4f}")
        base_times = None
        if baseline is not None:  # the same command from another checkout (e.g. before a change)
            base_env = dict(os.environ, PYTHONPATH=str(baseline.resolve()))
            # run in that checkout: ``python -m`` puts the working directory first on sys.path
            _timed([*fast, "--workers", "1"], base_env, baseline)  # its numba cache
            walls, cpus = [], []
            for _ in range(runs):
                seconds, cpu, base = _timed([*fast, "--workers", "1"], base_env, baseline)
                walls.append(seconds)
                cpus.append(cpu)
            base_times = statistics.median(walls), statistics.median(cpus)
            print(f"baseline {baseline} --workers 1: wall {base_times[0]:8.2f} s, CPU "
                  f"{base_times[1]:8.2f} s  MaxBoxAcc {base['MaxBoxAcc']:.4f}  "
                  f"MaxBoxAccV2 {base['MaxBoxAccV2']:.4f}")
        ref_env = dict(env, MOANA_DISABLE_NUMBA="1")
        ref_wall, ref_cpu, ref = _timed([sys.executable, str(Path(__file__).resolve()),
                                         "--reference-process", str(scoremaps), str(meta),
                                         "--steps", str(step)], ref_env)
        print(f"reference process (moana.metrics.reference, wsolevaluation's algorithm "
              f"re-stated): wall {ref_wall:8.2f} s, CPU {ref_cpu:8.2f} s  "
              f"MaxBoxAcc {ref['MaxBoxAcc']:.4f}  MaxBoxAccV2 {ref['MaxBoxAccV2']:.4f}")
        same = (abs(ref["MaxBoxAcc"] - result["MaxBoxAcc"]) < 1e-9
                and abs(ref["MaxBoxAccV2"] - result["MaxBoxAccV2"]) < 1e-9)
        for w, (wall, cpu) in fast_times.items():
            print(f"end-to-end ratio (workers {w}): wall {ref_wall / wall:6.1f}x, "
                  f"CPU {ref_cpu / cpu:6.1f}x")
        if base_times is not None:
            print(f"end-to-end ratio (baseline, workers 1): wall {ref_wall / base_times[0]:6.1f}x, "
                  f"CPU {ref_cpu / base_times[1]:6.1f}x")
        print(f"# same MaxBoxAcc and MaxBoxAccV2: {same}")


#: runs argv[2:] and writes its CPU seconds and peak RSS (kB) to the file argv[1]; a small
#: process in between, because Linux keeps a forking process's RSS as its child's peak over exec
_LAUNCHER = ("import os, subprocess, sys\n"
             "child = subprocess.Popen(sys.argv[2:])\n"
             "_, status, u = os.wait4(child.pid, 0)\n"
             "open(sys.argv[1], 'w').write(f'{u.ru_utime + u.ru_stime} {u.ru_maxrss}')\n"
             "sys.exit(os.waitstatus_to_exitcode(status))\n")


def _timed_rss(command: list[str], env: dict[str, str]) -> tuple[float, float, float, dict]:
    """Wall s, CPU s (with the worker processes) and peak RSS (MB: the largest of the command's
    process and its worker processes) of one command; its printed JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        usage = Path(tmp) / "usage"
        with open(Path(tmp) / "out", "w+") as out, open(Path(tmp) / "err", "w+") as err:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(usage), *command],
                                  env=env, stdout=out, stderr=err)
            wall = time.perf_counter() - start
            out.seek(0)
            err.seek(0)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} failed: {err.read().strip()[-500:]}")
            printed = json.loads(out.read())
        cpu, peak_kb = usage.read_text().split()
    return wall, float(cpu), int(peak_kb) / 1024, printed


def write_scaling_split(folder: Path, n: int, distinct: int, seed: int) -> tuple[Path, Path]:
    """A split of n maps: ``distinct`` CAM-like maps, then hard links to them under new ids."""
    maps, boxes = cam_like_maps(min(n, distinct), seed)
    scoremaps, meta = write_split(folder, maps, boxes)
    ids = [f"img{i:05d}.jpg" for i in range(n)]
    for i in range(len(maps)):
        os.replace(scoremaps / f"img{i:04d}.npy", scoremaps / f"img{i:05d}.npy")
    for i in range(len(maps), n):
        os.link(scoremaps / f"img{i % len(maps):05d}.npy", scoremaps / f"img{i:05d}.npy")
    box_of = [boxes[i % len(maps)] for i in range(n)]
    (meta / "image_ids.txt").write_text("\n".join(ids) + "\n")
    (meta / "class_labels.txt").write_text("".join(f"{i},0\n" for i in ids))
    (meta / "image_sizes.txt").write_text("".join(f"{i},{SIZE},{SIZE}\n" for i in ids))
    (meta / "localization.txt").write_text("".join(
        f"{i},{b[0]},{b[1]},{b[2]},{b[3]}\n" for i, bs in zip(ids, box_of) for b in bs))
    return scoremaps, meta


def scaling(sizes: list[int], runs: int, distinct: int, seed: int) -> None:
    """Wall, CPU and peak RSS of evaluate-scoremaps per number of maps and worker setting."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    settings = {"1": ["--workers", "1"], "2": ["--workers", "2"], "default": []}
    print(f"# scaling: moana evaluate-scoremaps --step 0.001 (both contour modes), whole "
          f"processes; {os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'maps':>6} {'workers':>8} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} "
          f"{'speed-up vs 1':>14} {'RSS vs first size':>18}")
    first_rss: dict[str, float] = {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            # written by a child process: this one stays small, and a child forked from a
            # large process would report the parent's RSS as its peak (Linux keeps it over exec)
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--write-split",
                            tmp, str(n), str(distinct), str(seed)], env=env, check=True)
            scoremaps, meta = Path(tmp) / "scoremaps", Path(tmp) / "metadata"
            base = [sys.executable, "-m", "moana", "evaluate-scoremaps", "--scoremaps",
                    str(scoremaps), "--metadata", str(meta), "--step", "0.001", "--quiet"]
            _timed_rss([*base, "--workers", "1"], env) if n == sizes[0] else None  # warm caches
            measured: dict[str, list[tuple[float, float, float]]] = {k: [] for k in settings}
            printed: dict[str, dict] = {}
            for _ in range(runs):
                for name, extra in settings.items():
                    wall, cpu, rss, printed[name] = _timed_rss([*base, *extra], env)
                    measured[name].append((wall, cpu, rss))
            same = len({json.dumps(p, sort_keys=True) for p in printed.values()}) == 1
            one_wall = statistics.median(w for w, _, _ in measured["1"])
            for name, rows in measured.items():
                wall = statistics.median(w for w, _, _ in rows)
                cpu = statistics.median(c for _, c, _ in rows)
                rss = statistics.median(r for _, _, r in rows)
                first_rss.setdefault(name, rss)
                print(f"{n:>6} {name:>8} {wall:8.2f} {cpu:8.2f} {rss:12.1f} "
                      f"{one_wall / wall:13.2f}x {rss / first_rss[name]:17.3f}x")
            print(f"#   same JSON at every setting: {same}; MaxBoxAcc "
                  f"{printed['1']['MaxBoxAcc']:.4f}  MaxBoxAccV2 {printed['1']['MaxBoxAccV2']:.4f}")
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


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
    parser.add_argument("--end-to-end", type=int, default=0, metavar="N",
                        help="also time whole processes over N CAM-like maps (e.g. 300)")
    parser.add_argument("--e2e-workers", type=int, nargs="+", default=[1, 2],
                        help="--workers values of the end-to-end moana runs")
    parser.add_argument("--e2e-runs", type=int, default=3, help="moana runs per setting (median)")
    parser.add_argument("--e2e-maps", choices=("cam", "blobs"), default="cam",
                        help="cam: CAM-like (28x28 upsampled); blobs: the per-map benchmark's "
                             "full-resolution maps with pixel noise (many more contours)")
    parser.add_argument("--e2e-baseline", type=Path, default=None, metavar="CHECKOUT",
                        help="also time evaluate-scoremaps from this checkout (PYTHONPATH), "
                             "e.g. the main branch, in the same run")
    parser.add_argument("--skip-per-map", action="store_true", help="only the end-to-end part")
    parser.add_argument("--scaling", type=int, nargs="+", default=[], metavar="N",
                        help="time and peak RSS of whole runs at these numbers of maps, at 1, 2 "
                             "and the default workers (e.g. 1000 5000 10000)")
    parser.add_argument("--scaling-runs", type=int, default=1, help="runs per setting (median)")
    parser.add_argument("--scaling-distinct", type=int, default=1000,
                        help="distinct maps of a scaling split (the rest are hard links)")
    parser.add_argument("--reference-process", nargs=2, type=Path, metavar=("SCOREMAPS", "META"),
                        help=argparse.SUPPRESS)  # the reference side of --end-to-end
    parser.add_argument("--write-split", nargs=4, metavar=("DIR", "N", "DISTINCT", "SEED"),
                        help=argparse.SUPPRESS)  # the split of one --scaling size
    args = parser.parse_args()
    if args.write_split:
        folder, *numbers = args.write_split
        write_scaling_split(Path(folder), *map(int, numbers))
        return
    if args.reference_process:
        print(json.dumps(reference_process(*args.reference_process, args.steps[0])))
        return
    if not args.skip_per_map:
        per_map(args)
    if args.scaling:
        scaling(args.scaling, args.scaling_runs, args.scaling_distinct, args.seed)
    if args.end_to_end:
        end_to_end(args.end_to_end, 0.001, args.e2e_workers, args.e2e_runs, args.seed,
                   args.e2e_maps, args.e2e_baseline)


def per_map(args: argparse.Namespace) -> None:
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
