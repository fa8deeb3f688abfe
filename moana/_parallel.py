"""Process pools for per-item CPU work (score maps, IR labels): the usable CPU count and a pool
started once per run, forked where the OS can fork (workers inherit the loaded modules and
compiled kernels instead of importing them again)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def idle_cpus() -> int:
    """Usable CPUs that the 1-minute load average leaves idle, rounded, at least 1 (all of
    them where the OS reports no load average)."""
    cpus = usable_cpus()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cpus
    return max(1, min(cpus, round(cpus - load)))


def resolve_workers(workers: int | None, name: str = "num_workers") -> int:
    """``workers`` as a process count: None -> :func:`usable_cpus`; 0 and 1 -> 1 (in the
    calling process); ValueError for a negative count."""
    if workers is None:
        return usable_cpus()
    if int(workers) < 0:
        raise ValueError(f"{name} must be >= 0 (or null for one per CPU), got {workers}")
    return max(1, int(workers))


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, forked where the OS can fork."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    return ProcessPoolExecutor(workers, mp_context=context)
