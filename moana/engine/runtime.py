"""The run-time context every training loop needs (WSOL training, WSSS steps, evaluation): the
device, seeds and DataLoader worker seeding, quiet mode, autocast, process-wide torch flags, and
placing a model on its device.
"""


from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from moana.engine.distributed import DistInfo

# --------------------------------------------------------------------------- device, seeds


def resolve_device(name: str, dist_info: DistInfo | None = None) -> torch.device:
    """``auto`` -> CUDA when available else CPU; ``cuda`` -> the process's local GPU.

    Raises ValueError when CUDA is asked for and not available.
    """
    local_rank = dist_info.local_rank if dist_info is not None else 0
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"runtime.device={name!r} but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def derived_seed(*parts: int) -> int:
    """A 32-bit seed derived from several integers (run seed, epoch, rank) by SeedSequence."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def worker_init(worker_id: int) -> None:
    """DataLoader worker init: numpy and random follow the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def is_quiet(quiet: bool | None, config_quiet: bool = False) -> bool:
    """Progress bars off when asked, in the config, or under CI (env ``CI=true``)."""
    if quiet is not None:
        return quiet
    return config_quiet or os.environ.get("CI", "").lower() in ("1", "true", "yes")


def autocast_context(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """``amp="bf16"``: torch.autocast to bfloat16 on ``device``; ``"none"``: no-op."""
    if amp == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def torch_flags(*, deterministic: bool, device: torch.device) -> Iterator[None]:
    """Set the process-wide determinism / cuDNN flags for a run and restore them on exit.

    ``deterministic``: ``torch.use_deterministic_algorithms(True, warn_only=True)`` and
    ``cudnn.benchmark = False``; otherwise ``cudnn.benchmark = True`` on CUDA devices.
    """
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark)
    try:
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark = saved[2]


def place_model(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    """Move ``model`` to ``device`` (and to the channels-last memory format when asked)."""
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model
