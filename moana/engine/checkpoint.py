"""Resumable checkpoints: model, optimizer, scheduler, epoch, run history and RNG states.

Files are written atomically (temporary file + ``os.replace``) and read with
``torch.load(weights_only=True)``: every value is a tensor or plain Python data (numpy RNG
state is stored as a tensor). A checkpoint records the architecture, method and class count it
was trained with, so loading it into another model fails with a clear message.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from moana.io import atomic_write_bytes

FORMAT = "moana-train-checkpoint/1"


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy, torch (and CUDA) RNG states as checkpoint-safe values."""
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": {"name": np_name, "keys": torch.from_numpy(np_keys.astype(np.int64)),
                  "pos": int(np_pos), "has_gauss": int(np_has_gauss),
                  "cached_gaussian": float(np_cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    np_state = state["numpy"]
    np.random.set_state((np_state["name"], np_state["keys"].numpy().astype(np.uint32),
                         np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / DataParallel / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def model_identity(model: nn.Module) -> dict[str, Any]:
    """``arch``, ``method`` and ``num_classes`` of ``model`` (unwrapped from DDP), recorded in
    checkpoints and checked on load."""
    model = unwrap(model)
    return {"arch": getattr(model, "arch", type(model).__name__),
            "method": getattr(model, "method", None),
            "num_classes": getattr(model, "num_classes", None)}


def save_checkpoint(path: Path | str, *, model: nn.Module, epoch: int,
                    optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any | None = None, history: list[dict[str, Any]] | None = None,
                    best: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
                    rng: bool = True) -> None:
    """Write a checkpoint atomically. ``epoch`` is the number of completed epochs."""
    state: dict[str, Any] = {
        "format": FORMAT,
        **model_identity(model),
        "epoch": int(epoch),
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "history": history or [],
        "best": best or {},
        "config": config or {},
        "rng": capture_rng_state() if rng else None,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_checkpoint(path: Path | str, map_location: str | torch.device = "cpu"
                    ) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle errors, truncated files, foreign objects
        raise ValueError(f"checkpoint {path} cannot be read safely (weights_only=True): "
                         f"{err}") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a moana training checkpoint (format "
                         f"{state.get('format') if isinstance(state, dict) else None!r}, "
                         f"expected {FORMAT!r}); for the official MoANA release use "
                         f"moana.models.official.load_official_checkpoint")
    return state


def check_compatible(state: dict[str, Any], model: nn.Module, path: Path | str) -> None:
    """Raise ValueError when a checkpoint was trained with another architecture/method/classes."""
    want = model_identity(model)
    have = {k: state.get(k) for k in want}
    if want != have:
        raise ValueError(
            f"checkpoint {path} holds arch={have['arch']}, method={have['method']}, "
            f"num_classes={have['num_classes']}, but the config builds arch={want['arch']}, "
            f"method={want['method']}, num_classes={want['num_classes']}")


def load_model_weights(model: nn.Module, state: dict[str, Any], path: Path | str) -> None:
    """Load a checkpoint's weights into ``model`` after checking it is the same kind of model."""
    check_compatible(state, model, path)
    try:
        unwrap(model).load_state_dict(state["model"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint {path} does not fit the model: {err}") from err
