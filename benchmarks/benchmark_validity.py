"""Regenerate the benchmark-validity table of the synthetic WSOL benchmark (synthetic data, CPU).

Trains every entry (vanilla CAM, the controls HaS and CAM with the mark hidden in half of the
training images, MoANA, SE, CBAM) for the same seeds with the smoke schedule (the ``smoke_moana``
config, through the ablation runner), adds the floor (center Gaussian) and the ceiling (GT mask
as score map), prints the table and writes ``benchmark_validity.csv`` and a figure. Finished runs
are reused (delete the work dir to rerun). The same table is made by ``make reproduce``
(stage 02); this script runs it alone, e.g. with more seeds:

    python benchmarks/benchmark_validity.py --work-dir work/benchmark \
        [--seeds 0 1 2 3 4] [--variants cam has cam+mark_hidden moana se cbam] [--workers 2]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

from moana.experiments import benchmark as bm
from moana.experiments.ablation import run_ablation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path("work/benchmark"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(bm.SMOKE_SEEDS))
    parser.add_argument("--variants", nargs="+", default=list(bm.VALIDITY_VARIANTS))
    parser.add_argument("--config", default="smoke_moana", help="training config (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's")
    parser.add_argument("--workers", type=int, default=2, help="runs at once (default: %(default)s)")
    parser.add_argument("--pretext", action="store_true",
                        help="fine-tune the pretext-pretrained small backbone (moana.experiments."
                        "pretext) with a 10x lower backbone learning rate instead of training "
                        "from scratch (tried for #14: it did not lower the seed spread)")
    parser.add_argument("--interval", choices=("t", "bootstrap"), default="t")
    parser.add_argument("--out", type=Path, default=None, help="CSV (default <work-dir>/...)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    from moana.data.metadata import load_wsol_metadata
    from moana.train.config import load_config

    start = time.time()
    data_root = args.work_dir / "data"
    overrides = []
    if args.pretext:
        from moana.experiments.pretext import pretrain_backbone

        overrides = [f"model.pretrained={pretrain_backbone(args.work_dir)}",
                     "optim.backbone_lr=0.01"]
    results = run_ablation(args.work_dir, args.variants, args.seeds, config=args.config,
                           epochs=args.epochs, data_root=data_root, workers=args.workers,
                           overrides=overrides)
    size = int(load_config(args.config).data.image_size)
    rows = bm.benchmark_validity(results, load_wsol_metadata(data_root / "metadata" / "test"),
                                 data_root / "images", image_size=size, interval=args.interval,
                                 variants=args.variants)
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
          f"(synthetic data {size} px, CPU, {args.interval} intervals)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
