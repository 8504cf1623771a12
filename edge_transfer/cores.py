"""Give every engine the same cores: pin the process, clamp to what exists."""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class CoreSetting:
    requested: int
    cores: int  # what every engine gets
    clamped: bool
    cpu_ids: tuple[int, ...]


def physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def usable_cores() -> int:
    """Physical cores this process may run on: the machine's, capped by its CPU affinity."""
    return min(physical_cores(), len(os.sched_getaffinity(0)))


def pin_cores(requested: int | None) -> CoreSetting:
    """Pin this process to ``requested`` CPUs (one per physical core where possible).

    DeepSparse silently accepts more cores than exist, so a request above the machine's
    physical cores warns once and is clamped; the clamp goes into the results.
    """
    available = sorted(os.sched_getaffinity(0))
    limit = usable_cores()
    requested = requested or limit
    cores = min(requested, limit)
    clamped = cores < requested
    if clamped:
        warnings.warn(f"--cores {requested} exceeds the {limit} physical cores available; using {cores}", stacklevel=2)
    # Logical CPUs of one core are usually numbered apart (0..P-1 then P..2P-1), so the
    # first `cores` ids land on distinct physical cores on common Linux layouts.
    cpu_ids = tuple(available[:cores])
    os.sched_setaffinity(0, cpu_ids)
    return CoreSetting(requested, cores, clamped, cpu_ids)


@contextmanager
def pinned(requested: int | None):
    """``pin_cores`` for the duration of a block; the caller's affinity is restored after,
    so library calls (run_bench, adapt) leave the process as they found it."""
    original = os.sched_getaffinity(0)
    try:
        yield pin_cores(requested)
    finally:
        os.sched_setaffinity(0, original)
