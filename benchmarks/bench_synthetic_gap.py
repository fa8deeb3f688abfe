"""The part-versus-whole gap on the synthetic benchmark (MoANA, Sohn et al., Sci. Rep. 2023).

Trains the smoke configs (vanilla CAM, then MoANA) on the synthetic benchmark on the CPU and
prints test top-1 classification and box accuracy (MaxBoxAcc@30/50/70, MaxBoxAccV2; Choe et al.,
CVPR 2020), next to the same box accuracy of the ground-truth object masks used as score maps:
the "whole object" ceiling. A classifier that looks at the small class mark classifies well and
localizes the part; the distance to the ceiling is the gap MoANA is meant to close.

    python benchmarks/bench_synthetic_gap.py --out runs/gap           # both models
    python benchmarks/bench_synthetic_gap.py --configs smoke_cam optim.epochs=4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from moana.train import fit, load_config

ROWS = ("top1_cls", "MaxBoxAcc@30", "MaxBoxAcc@50", "MaxBoxAcc@70", "MaxBoxAccV2", "top1_loc",
        "PxAP")


def whole_object_ceiling(config_name: str, overrides: list[str]) -> dict[str, float]:
    """Box accuracy on test when the score map is the ground-truth object mask itself."""
    from moana.data.metadata import load_wsol_metadata
    from moana.data.wsol import load_mask
    from moana.engine.distributed import DistInfo
    from moana.metrics.boxes import BoxEvaluator
    from moana.train.prepare import prepare_data

    config = load_config(config_name, overrides)
    data = prepare_data(config, DistInfo())
    metadata = load_wsol_metadata(data.split_dirs["test"])
    size = config.data.image_size
    evaluator = BoxEvaluator(metadata, step=config.eval.cam_step,
                             iou_thresholds=tuple(config.eval.iou_thresholds),
                             multi_contour=config.eval.multi_contour, image_size=size)
    for image_id in metadata.image_ids:
        mask = load_mask(data.mask_root, metadata, image_id, size)
        evaluator.accumulate((mask == 1).astype(np.float64), image_id)
    result = evaluator.compute()
    return {k: result[k] for k in ("MaxBoxAcc@30", "MaxBoxAcc@50", "MaxBoxAcc@70",
                                   "MaxBoxAccV2")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["smoke_cam", "smoke_moana"])
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: temp)")
    parser.add_argument("--data-root", default=None, help="synthetic data dir (default: config)")
    parser.add_argument("overrides", nargs="*", help="config overrides for every run")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="moana_gap_"))
    overrides = list(args.overrides)
    if args.data_root:
        overrides.append(f"data.data_root={args.data_root}")
    columns: dict[str, dict[str, float]] = {}
    for name in args.configs:
        start = time.perf_counter()
        run_dir = out / f"{name}-{time.strftime('%H%M%S')}"
        metrics = fit(load_config(name, overrides), run_dir=run_dir, quiet=True)
        seconds = time.perf_counter() - start
        columns[name] = {k: metrics[k] for k in ROWS if k in metrics}
        columns[name]["train+eval s"] = seconds
        print(f"{name}: {seconds:.0f} s (best epoch {metrics['epoch']})", flush=True)
    columns["GT mask (ceiling)"] = whole_object_ceiling(args.configs[0], overrides)
    rows = list(ROWS) + ["train+eval s"]
    print(f"\n{'metric (test split)':<18}" + "".join(f"{c:>20}" for c in columns))
    for row in rows:
        cells = [columns[c].get(row) for c in columns]
        print(f"{row:<18}" + "".join(f"{'-' if v is None else f'{v:.1f}':>20}" for v in cells))
    print(f"\nruns in {out}")


if __name__ == "__main__":
    main()
