"""Start-up time of the ``moana`` command: median wall time of whole processes.

    python benchmarks/bench_cli.py [--runs 7] [--root CHECKOUT]

Each command runs ``--runs`` times as ``python -m moana ...`` with PYTHONPATH set to the
checkout (default: this one; pass another checkout, e.g. an older commit, to compare) and the
median, min and max seconds are printed, plus the modules that ``--help`` imported (should be
argparse and moana only; torch, numpy, pandas must not appear). Numbers depend on the machine
and its load; they are what this run measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--version"], ["--help"], ["data", "--help"], ["evaluate-scoremaps", "--help"],
            ["train", "--help"], ["wsss", "--help"])


def time_command(args: list[str], root: Path, runs: int) -> list[float]:
    env = dict(os.environ, PYTHONPATH=str(root))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "moana", *args], env=env, cwd=root, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


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
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(f"# checkout {args.root}; {args.runs} runs each; bare python start-up "
          f"{time.perf_counter() - start:.3f} s")
    print(f"{'command':<34} {'median s':>9} {'min s':>7} {'max s':>7}")
    for command in COMMANDS:
        times = time_command(command, args.root, args.runs)
        print(f"{'moana ' + ' '.join(command):<34} {statistics.median(times):9.3f} "
              f"{min(times):7.3f} {max(times):7.3f}")
    heavy = heavy_imports(args.root)
    print(f"# heavy modules imported by `moana --help`: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
