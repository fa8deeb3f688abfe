"""Regenerate the benchmark-validity table of the synthetic WSOL benchmark (synthetic data, CPU).

Trains every entry (CAM, the mark-hiding control, HaS when the method exists, MoANA, SE, CBAM)
for the same seeds (from scratch, or ``--pretext``: fine-tuning the pretext-pretrained ``small``
backbone), adds the floor
(center Gaussian) and the ceiling (GT mask as score map), prints the table and writes
``benchmark_validity.csv`` and a figure. Finished runs are reused (delete the work dir to rerun).

    OMP_NUM_THREADS=1 python benchmarks/benchmark_validity.py --work-dir work/benchmark \
        [--seeds 0 1 2 3 4] [--entries cam cam_mark_hidden moana se cbam] [--epochs 6]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

from moana.experiments import benchmark as bm
from moana.experiments.pretext import pretrain_backbone


def _available(name: str) -> bool:
    if name != "has":
        return True
    try:
        from moana.methods import batch_augmentation  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path("work/benchmark"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(bm.SMOKE_SEEDS))
    parser.add_argument("--entries", nargs="+", default=list(bm.ENTRIES), choices=list(bm.ENTRIES))
    parser.add_argument("--epochs", type=int, default=bm.SMOKE_EPOCHS)
    parser.add_argument("--pretext", action="store_true",
                        help="fine-tune the pretext-pretrained backbone (10x lower backbone lr) "
                        "instead of training from scratch")
    parser.add_argument("--interval", choices=("t", "bootstrap"), default="t")
    parser.add_argument("--out", type=Path, default=None, help="CSV (default <work-dir>/...)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    start = time.time()
    pretrained = pretrain_backbone(args.work_dir) if args.pretext else None
    if pretrained:
        print(f"pretext backbone: {pretrained} ({time.time() - start:.0f}s)", flush=True)
    records: list[dict] = []
    for name in args.entries:
        if not _available(name):
            print(f"skipping {name}: the method is not in this checkout")
            continue
        for seed in args.seeds:
            t0 = time.time()
            rec = bm.run_entry(args.work_dir, name, seed, pretrained=pretrained,
                               epochs=args.epochs)
            records.append(rec)
            print(f"{name:16s} seed {seed}: top-1 {rec['top1']:5.1f}  MaxBoxAccV2 "
                  f"{rec['MaxBoxAccV2']:5.1f}  ({time.time() - t0:.0f}s)", flush=True)
    records += bm.reference_records(args.work_dir, args.seeds)
    rows = bm.validity_rows(records, interval=args.interval)
    out = args.out or args.work_dir / "benchmark_validity.csv"
    bm.write_validity_csv(rows, out)
    bm.plot_validity(rows, out.with_suffix(".png"))
    fmt = lambda v: "   -" if isinstance(v, float) and math.isnan(v) else f"{v:6.1f}"  # noqa: E731
    print(f"\n{'role':9s} {'entry':16s} n  top1 (sd)       MaxBoxAccV2 (sd)  delta vs CAM [95% CI]")
    for r in rows:
        print(f"{r['role']:9s} {r['method']:16s} {r['n_seeds']}  {fmt(r['top1_mean'])} "
              f"({fmt(r['top1_std'])})  {fmt(r['MaxBoxAccV2_mean'])} ({fmt(r['MaxBoxAccV2_std'])})"
              f"  {fmt(r['delta_vs_cam_mean'])} [{fmt(r['delta_vs_cam_ci_low'])}, "
              f"{fmt(r['delta_vs_cam_ci_high'])}]")
    print(f"\nwrote {out} and {out.with_suffix('.png')}; total {time.time() - start:.0f}s "
          f"(synthetic data, CPU, {args.interval} intervals)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
