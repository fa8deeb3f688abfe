"""Model cost: parameters, multiply-accumulates (via ``torch.utils.flop_counter``) and CPU
forward latency."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["ModelCost", "model_cost", "count_parameters"]


@dataclass(frozen=True)
class ModelCost:
    """Cost of a model at ``input_size`` (B, C, H, W): parameters, multiply-accumulates of one
    forward and median latency in milliseconds (NaN when not timed)."""
    params: int
    macs: int
    latency_ms: float  # median over repeats; nan when repeats == 0
    input_size: tuple[int, int, int, int]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (only those with ``requires_grad`` if ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def model_cost(
    model: nn.Module,
    image_size: int | tuple[int, int] = 224,
    *,
    batch_size: int = 1,
    repeats: int = 5,
    warmup: int = 1,
) -> ModelCost:
    """Parameter count, MACs (FLOPs / 2, per batch) and median CPU forward time in eval mode
    under ``torch.inference_mode``.  The model is moved to the CPU; its train/eval mode is
    restored afterwards."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    shape = (batch_size, 3, h, w)
    was_training = model.training
    model = model.cpu().eval()
    x = torch.randn(shape)
    try:
        with torch.inference_mode():
            counter = FlopCounterMode(display=False)
            with counter:
                model(x)
            macs = counter.get_total_flops() // 2
            for _ in range(warmup):
                model(x)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                model(x)
                times.append((time.perf_counter() - start) * 1000)
    finally:
        model.train(was_training)
    latency = statistics.median(times) if times else float("nan")
    return ModelCost(count_parameters(model), int(macs), latency, shape)
