"""Cost of MoANA in ResNet-50 (official layout, 224 px, CPU): parameters, MACs and forward time of
vanilla CAM, MoANA with the official full axis convolutions, and MoANA with depthwise ones,
with ratios to CAM measured in one run.

    OMP_NUM_THREADS=2 python benchmarks/bench_module.py [--size 224] [--batch 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from moana.models import build_model, model_cost

VARIANTS = {
    "cam": {"method": "cam"},
    "moana (full)": {"method": "moana", "attention_kw": {"axis_conv": "full"}},
    "moana (depthwise)": {"method": "moana", "attention_kw": {"axis_conv": "depthwise"}},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num-classes", type=int, default=200)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    print(f"{args.arch} @ {args.size}px, batch {args.batch}, {args.repeats} repeats, "
          f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    models = {name: build_model(args.arch, num_classes=args.num_classes, **kw).eval()
              for name, kw in VARIANTS.items()}
    costs = {name: model_cost(m, args.size, batch_size=args.batch, repeats=0) for name, m in models.items()}
    # timings interleaved round-robin so that load from other processes hits every variant alike
    x = torch.randn(args.batch, 3, args.size, args.size)
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for m in models.values():  # warm-up
            m(x)
        for _ in range(args.repeats):
            for name, m in models.items():
                start = time.perf_counter()
                m(x)
                times[name].append((time.perf_counter() - start) * 1000)
    latency = {name: statistics.median(t) for name, t in times.items()}
    base, base_ms = costs["cam"], latency["cam"]
    print(f"{'variant':<20}{'params (M)':>12}{'x cam':>8}{'GMACs':>10}{'x cam':>8}{'ms/fwd':>10}{'x cam':>8}")
    for name, c in costs.items():
        print(f"{name:<20}{c.params / 1e6:>12.2f}{c.params / base.params:>8.3f}{c.macs / 1e9:>10.2f}"
              f"{c.macs / base.macs:>8.3f}{latency[name]:>10.1f}{latency[name] / base_ms:>8.3f}")
    spread = {name: (min(t), max(t)) for name, t in times.items()}
    print("min/max ms per variant:", {k: (round(a), round(b)) for k, (a, b) in spread.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
