"""Does the random walk improve on the CAMs? Paired before/after over seeds (synthetic VOC, CPU).

For every seed, runs the WSSS pipeline (``moana wsss run``, default the ``smoke`` profile, steps
train_cam .. eval_sem_seg; ``--with-seg`` adds the segmentation step) with ``runtime.seed`` set
to the seed (it seeds the synthetic data and every training step), then prints per seed and
method the CAM mIoU at the method's default threshold (before), the pseudo-mask mIoU (after,
IRN's random walk) and their difference, and per method the mean paired difference with its 95%
t interval (:func:`moana.experiments.wsss.walk_gain_table`), and how the IR labels split the
ground truth (:func:`moana.experiments.wsss.ir_label_composition`). All numbers are percent, on the
synthetic VOC train list. Finished steps are reused (delete the work dir to rerun).

    OMP_NUM_THREADS=1 python benchmarks/wsss_walk_gain.py --work-dir work/wsss_walk_gain \
        [--seeds 0 1 2 3 4] [--methods cam moana] [--config smoke] [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from moana.experiments.wsss import ir_label_composition, walk_gain_table
from moana.wsss.pipeline import (STEPS, load_summary, load_wsss_config, prepare_data, run_dirs,
                                 run_pipeline)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=Path("work/wsss_walk_gain"))
    parser.add_argument("--config", default="smoke")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--with-seg", action="store_true", help="also train and evaluate DeepLabV3")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    steps = list(STEPS if args.with_seg else STEPS[:STEPS.index("eval_sem_seg") + 1])
    summaries, seconds, composition = {}, {}, []
    for seed in args.seeds:
        cfg = load_wsss_config(args.config, [*args.overrides, f"runtime.seed={seed}",
                                             f"work_dir={args.work_dir / f'seed{seed}'}"])
        methods = list(args.methods or cfg.methods)
        start = time.perf_counter()
        run_pipeline(cfg, steps=steps, methods=methods, echo=lambda line: None)
        seconds[seed] = time.perf_counter() - start
        summaries[seed] = load_summary(cfg, methods)
        data = prepare_data(cfg)
        for method in methods:
            parts = ir_label_composition(data.root, run_dirs(cfg, method)["ir_label"],
                                         data.train_ids)
            composition.append({"seed": seed, "method": method, **parts})
        print(f"seed {seed}: {seconds[seed]:.0f} s", flush=True)
    per_seed, summary = walk_gain_table(summaries, methods)
    per_seed["run_seconds"] = per_seed["seed"].map(seconds)  # this run (finished steps skipped)
    with pd.option_context("display.width", 160, "display.precision", 2):
        print("\nper seed (%, synthetic VOC train list; CAM at the default threshold):")
        print(per_seed.to_string(index=False))
        print("\nrandom walk gain = pseudo-mask mIoU - CAM mIoU, paired by seed (95% t interval):")
        print(summary.to_string(index=False))
        print("\nIR labels: % of GT object / background pixels, mean over seeds:")
        print(pd.DataFrame(composition).drop(columns="seed").groupby("method", sort=False)
              .mean().to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
