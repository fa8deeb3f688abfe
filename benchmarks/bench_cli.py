"""Start-up time and peak memory of the ``moana`` command: median wall time of whole processes.

    python benchmarks/bench_cli.py [--runs 7] [--root CHECKOUT]

Each command runs ``--runs`` times as ``python -m moana ...`` with PYTHONPATH set to the
checkout (default: this one; pass another checkout, e.g. an older commit, to compare) and the
median, min and max seconds are printed with the median peak RSS of the process (``ru_maxrss``
of the child, from ``os.wait4``). Besides the ``--help`` forms (pure start-up), the commands
that need no torch run on a tiny synthetic input written to a temporary folder by this
checkout's ``moana data synth``: ``data check`` on a 10-image WSOL tree (3 splits) and a 5-image
VOC tree, ``data synth`` itself (both kinds), ``evaluate-scoremaps`` on the 2 test maps and ``config show``;
the time above the bare interpreter's is their start-up, the work being a few milliseconds.
Last, the modules that ``--help`` imported are listed (should be argparse and moana only; torch,
numpy, pandas must not appear). Numbers depend on the machine and its load; they are what this
run measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = (["--version"], ["--help"], ["data", "--help"], ["evaluate-scoremaps", "--help"],
            ["train", "--help"], ["wsss", "--help"])


HERE = Path(__file__).resolve().parents[1]


def run_child(argv: list[str], env: dict, cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process; RuntimeError when it fails."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {child.returncode}")
    return wall, usage.ru_maxrss / 1024  # Linux reports kilobytes


def time_command(args: list[str], root: Path, runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds and peak RSS (MB) of ``runs`` processes of ``python -m moana *args``."""
    env = dict(os.environ, PYTHONPATH=str(root))
    measured = [run_child([sys.executable, "-m", "moana", *args], env, root) for _ in range(runs)]
    return [w for w, _ in measured], [m for _, m in measured]


def work_commands(folder: Path) -> list[list[str]]:
    """Commands that need no torch, on tiny synthetic inputs written into ``folder`` by this
    checkout: a 10-image WSOL tree, a 5-image VOC tree and random maps of the WSOL test split."""
    env = dict(os.environ, PYTHONPATH=str(HERE))
    wsol, voc, maps = folder / "wsol", folder / "voc", folder / "maps"
    for args in (["--kind", "wsol", "--out", str(wsol), "--num-classes", "2", "--per-class",
                  "train=3,val=1,test=1", "--image-size", "64"],
                 ["--kind", "voc", "--out", str(voc), "--num-train", "3", "--num-val", "2"]):
        subprocess.run([sys.executable, "-m", "moana", "data", "synth", *args], env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    code = ("import sys, numpy as np\nfrom moana.scoremaps import save_scoremap\n"
            "rng = np.random.default_rng(0)\n"
            "for i in open(sys.argv[1]).read().split(): save_scoremap(sys.argv[2], i, "
            "rng.random((64, 64)))\n")
    test = wsol / "metadata" / "test"
    subprocess.run([sys.executable, "-c", code, str(test / "image_ids.txt"), str(maps)], env=env,
                   check=True)
    return [["data", "check", "--kind", "wsol", "--data-root", str(wsol / "images"),
             "--metadata", str(wsol / "metadata"), "--quiet"],
            ["data", "check", "--kind", "voc", "--root", str(voc), "--quiet"],
            ["data", "synth", "--kind", "wsol", "--out", str(folder / "again"), "--num-classes",
             "2", "--per-class", "train=3,val=1,test=1", "--image-size", "64"],
            ["data", "synth", "--kind", "voc", "--out", str(folder / "again-voc"), "--num-train",
             "3", "--num-val", "2"],
            ["evaluate-scoremaps", "--scoremaps", str(maps), "--metadata", str(test),
             "--mask-root", str(wsol / "images"), "--step", "0.01", "--workers", "1", "--quiet"],
            ["config", "show", "smoke"]]


def label(command: list[str]) -> str:
    """The command as printed: without options whose value is a path, and without --quiet."""
    words = []
    for word, after in zip(command, [*command[1:], ""]):
        if word != "--quiet" and not word.startswith("/") and not after.startswith("/"):
            words.append(word)
    return "moana " + " ".join(words)


def heavy_imports(root: Path) -> list[str]:
    code = ("import sys\nfrom moana.cli import build_parser\nbuild_parser(['--help'])\n"
            "print(' '.join(m for m in ('torch', 'numpy', 'pandas', 'cv2', 'numba', 'matplotlib')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(root)),
                         cwd=root, capture_output=True, text=True)
    return out.stdout.split() if out.returncode == 0 else ["(build_parser(argv) not available)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="processes per command")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="checkout whose moana is timed")
    args = parser.parse_args()
    time_command(["--version"], args.root, 1)  # warm the file cache
    bare = [run_child([sys.executable, "-c", "pass"], dict(os.environ), args.root)
            for _ in range(args.runs)]
    print(f"# checkout {args.root}; {args.runs} runs each; bare python start-up "
          f"{statistics.median(w for w, _ in bare):.3f} s, "
          f"{statistics.median(m for _, m in bare):.0f} MB peak RSS")
    with tempfile.TemporaryDirectory() as folder:
        commands = [*COMMANDS, *work_commands(Path(folder))]
        width = max(len(label(c)) for c in commands)
        print(f"{'command':<{width}} {'median s':>9} {'min s':>7} {'max s':>7} "
              f"{'peak RSS MB':>12}")
        for command in commands:
            times, rss = time_command(command, args.root, args.runs)
            print(f"{label(command):<{width}} {statistics.median(times):9.3f} "
                  f"{min(times):7.3f} {max(times):7.3f} {statistics.median(rss):12.0f}")
    heavy = heavy_imports(args.root)
    print(f"# heavy modules imported by `moana --help`: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
