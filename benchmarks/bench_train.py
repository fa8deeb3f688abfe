"""Training throughput (images/second): CAM vs MoANA (full and depthwise axis convolutions) on
the CPU at the smoke setting, and on a GPU ResNet-50 at 224 px in fp32 vs bf16 + channels-last.

One training step = forward, cross-entropy, backward and an SGD step with the layer-wise
learning rates used by ``moana.train.fit`` (data already in memory, so the numbers measure the
model, not the loader). Models are timed round-robin in the same run, so ratios are comparable
even on a shared machine.

    python benchmarks/bench_train.py                 # CPU smoke setting (+ GPU part if present)
    python benchmarks/bench_train.py --steps 20 --gpu-batch 128
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from moana.engine.runtime import autocast_context
from moana.models.build import build_model
from moana.train.config import load_config

VARIANTS = {
    "cam": dict(method="cam"),
    "moana (full)": dict(method="moana", attention_kw={"axis_conv": "full"}),
    "moana (depthwise)": dict(method="moana", attention_kw={"axis_conv": "depthwise"}),
}


def make_step(model, device, amp: str, channels_last: bool, lr: float = 0.01):
    optimizer = torch.optim.SGD(model.param_groups(lr, lr / 10), lr=lr, momentum=0.9,
                                weight_decay=5e-4)

    def step(images, labels):
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast_context(device, amp):
            loss = F.cross_entropy(model(images).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(setups: dict, batch: tuple, device: torch.device, steps: int, rounds: int,
            warmup: int) -> dict[str, float]:
    """Median images/second per setup over ``rounds`` round-robin rounds of ``steps`` steps."""
    images, labels = batch
    for step in setups.values():
        for _ in range(warmup):
            step(images, labels)
    sync(device)
    rates: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(rounds):
        for name, step in setups.items():
            sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                step(images, labels)
            sync(device)
            rates[name].append(steps * images.shape[0] / (time.perf_counter() - start))
    return {name: statistics.median(r) for name, r in rates.items()}


def report(title: str, rates: dict[str, float], base: str) -> None:
    print(f"\n{title}")
    print(f"{'setup':<34}{'images/s':>12}{'ratio':>9}")
    for name, rate in rates.items():
        print(f"{name:<34}{rate:>12.1f}{rate / rates[base]:>9.2f}")


def cpu_smoke(args: argparse.Namespace) -> None:
    config = load_config("smoke_cam")
    size, batch_size = config.data.crop_size, config.optim.batch_size
    classes = config.data.synthetic.get("num_classes", 4)
    torch.manual_seed(0)
    device = torch.device("cpu")
    setups = {}
    for name, kw in VARIANTS.items():
        model = build_model(config.model.arch, num_classes=classes, **kw).train()
        setups[name] = make_step(model, device, "none", False)
    batch = (torch.randn(batch_size, 3, size, size), torch.randint(0, classes, (batch_size,)))
    rates = measure(setups, batch, device, args.steps, args.rounds, args.warmup)
    report(f"CPU, smoke setting: arch={config.model.arch}, {size} px, batch {batch_size}, "
           f"{torch.get_num_threads()} threads", rates, "cam")


def gpu_resnet50(args: argparse.Namespace) -> None:
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    batch = (torch.randn(args.gpu_batch, 3, 224, 224, device=device),
             torch.randint(0, 1000, (args.gpu_batch,), device=device))
    setups = {}
    for method in ("cam", "moana"):
        for amp, cl in (("none", False), ("bf16", True)):
            model = build_model("resnet50", method=method, num_classes=1000).to(device).train()
            if cl:
                model = model.to(memory_format=torch.channels_last)
            label = f"{method} {'fp32' if amp == 'none' else 'bf16 + channels-last'}"
            setups[label] = make_step(model, device, amp, cl)
    rates = measure(setups, batch, device, args.gpu_steps, args.rounds, args.warmup)
    report(f"GPU {torch.cuda.get_device_name(device)}: ResNet-50 at 224 px, batch "
           f"{args.gpu_batch}", rates, "cam fp32")
    for method in ("cam", "moana"):
        ratio = rates[f"{method} bf16 + channels-last"] / rates[f"{method} fp32"]
        print(f"{method}: bf16 + channels-last is {ratio:.2f}x fp32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="CPU steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--gpu-batch", type=int, default=64)
    parser.add_argument("--gpu-steps", type=int, default=20)
    parser.add_argument("--skip-cpu", action="store_true")
    args = parser.parse_args()
    if not args.skip_cpu:
        cpu_smoke(args)
    if torch.cuda.is_available():
        gpu_resnet50(args)
    else:
        print("\nno GPU: skipped ResNet-50 fp32 vs bf16 + channels-last")


if __name__ == "__main__":
    main()
