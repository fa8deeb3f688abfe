"""The ``runtime`` section every training loop reads (WSOL training and the WSSS pipeline): a
plain dataclass, no torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RuntimeConfig:
    """Seed, device and speed options, the ``runtime`` section of WSOL training and of the WSSS
    pipeline (:class:`moana.wsss.config.WSSSConfig`). ``amp``: ``none`` or ``bf16`` (autocast,
    GPUs); ``amp`` and ``channels_last`` apply to the training steps."""

    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "none"
    channels_last: bool = False
