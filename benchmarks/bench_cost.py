"""Cost of each attention module in ResNet-50 at 224 px: parameters, MACs, CPU latency.

Prints ratios to the plain backbone (vanilla CAM), all measured in one run with batch 1; latency
is the median of a few round-robin repeats (the CPU may be shared, so treat it as indicative).

    python benchmarks/bench_cost.py                      # default variants, 3 repeats
    python benchmarks/bench_cost.py --variants cam moana se --repeats 5 --csv cost.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from moana.experiments.cost import cost_table
from moana.experiments.variants import COST_VARIANTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--num-classes", type=int, default=200)
    parser.add_argument("--variants", nargs="+", default=list(COST_VARIANTS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--csv", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        df = cost_table(
            args.variants, arch=args.arch, image_size=args.image_size,
            num_classes=args.num_classes, repeats=args.repeats, warmup=args.warmup,
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    shown = df.assign(
        params_M=df["params"] / 1e6,
        attention_params_M=df["attention_params"] / 1e6,
        GMACs=df["macs"] / 1e9,
    )[["params_M", "attention_params_M", "GMACs", "latency_ms",
       "params_ratio", "macs_ratio", "latency_ms_ratio"]]
    print(f"{args.arch} @ {args.image_size}px, batch 1, {torch.get_num_threads()} CPU thread(s), "
          f"median of {args.repeats} round-robin repeats")
    print(shown.to_string(float_format=lambda v: f"{v:.3f}"))
    if args.csv is not None:
        from moana.io import atomic_write_text

        atomic_write_text(args.csv, df.to_csv())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
