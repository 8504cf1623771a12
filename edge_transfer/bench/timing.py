"""Timed loops. Warm-up by time and count, then timed iterations until both the time
budget and the minimum count are met; every per-request latency is kept."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

PERCENTILE_METHOD = "linear"  # numpy.percentile's default: linear interpolation between order statistics


@dataclass
class Timing:
    latencies_s: list[float]  # one per request
    wall_s: float  # first request start to last request end, timed phase only
    items: int  # images processed in the timed phase

    @property
    def items_per_sec(self) -> float:
        return self.items / self.wall_s


def _warm_up(compiled, inputs, seconds: float, min_iterations: int) -> None:
    start, count = time.perf_counter(), 0
    while count < min_iterations or time.perf_counter() - start < seconds:
        compiled.run(inputs)
        count += 1


def time_sync(compiled, inputs, batch_size: int, seconds: float, min_iterations: int, warmup_s: float,
              warmup_iterations: int = 3) -> Timing:
    _warm_up(compiled, inputs, warmup_s, warmup_iterations)
    latencies = []
    clock = time.perf_counter
    start = clock()
    while len(latencies) < min_iterations or clock() - start < seconds:
        t0 = clock()
        compiled.run(inputs)
        latencies.append(clock() - t0)
    wall = clock() - start
    return Timing(latencies, wall, batch_size * len(latencies))


def time_async(compiled, inputs, batch_size: int, streams: int, seconds: float, min_iterations: int,
               warmup_s: float, warmup_iterations: int = 3) -> Timing:
    """``streams`` threads issue requests on one compiled model. Requests are numbered as
    they start, and numbering stops only at a multiple of ``streams`` once both the time
    and count goals are met, so the run ends on whole rounds."""
    _warm_up(compiled, inputs, warmup_s, warmup_iterations)
    lock = threading.Lock()
    issued = 0
    latencies: list[float] = []
    ends: list[float] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    clock = time.perf_counter
    start = clock()

    def take() -> bool:
        nonlocal issued
        if stop.is_set():
            return False
        with lock:
            done = issued >= min_iterations and clock() - start >= seconds and issued % streams == 0
            if done:
                return False
            issued += 1
            return True

    def worker():
        try:
            while take():
                t0 = clock()
                compiled.run(inputs)
                t1 = clock()
                with lock:
                    latencies.append(t1 - t0)
                    ends.append(t1)
        except BaseException as exc:  # surfaced in the calling thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(streams)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    finally:  # Ctrl-C: no stream may still be inside the engine at exit (DeepSparse aborts the process)
        stop.set()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return Timing(latencies, max(ends) - start, batch_size * len(latencies))


def latency_stats_ms(latencies_s: list[float]) -> dict:
    import numpy as np

    ms = np.asarray(latencies_s) * 1e3
    p50, p90, p95, p99 = np.percentile(ms, [50, 90, 95, 99], method=PERCENTILE_METHOD)
    return {
        "latency_ms_mean": float(ms.mean()),
        "latency_ms_median": float(p50),
        "latency_ms_std": float(ms.std(ddof=1)) if len(ms) > 1 else 0.0,
        "latency_ms_min": float(ms.min()),
        "latency_ms_max": float(ms.max()),
        "latency_ms_p50": float(p50),
        "latency_ms_p90": float(p90),
        "latency_ms_p95": float(p95),
        "latency_ms_p99": float(p99),
    }


@dataclass(frozen=True)
class PairedRatio:
    """The one estimator of every A/B speedup (bench, adapt, deploy): a_i / b_i for each pair of
    measurements taken side by side (same batch, cores and moment), summarised by the median,
    with the min and max as its spread."""

    median: float
    low: float
    high: float
    pairs: int


def paired_ratio(a: list[float], b: list[float]) -> PairedRatio:
    import statistics

    if len(a) != len(b) or not a:
        raise ValueError(f"paired timing needs as many measurements of A as of B, at least one: {len(a)}, {len(b)}")
    ratios = [x / y for x, y in zip(a, b)]
    return PairedRatio(statistics.median(ratios), min(ratios), max(ratios), len(ratios))


def alternate(measure_a, measure_b, rounds: int) -> tuple[list, list]:
    """``rounds`` measurements of A and of B, in pairs whose order alternates every round, so
    drift on a shared machine hits both alike."""
    a, b = [], []
    for r in range(rounds):
        if r % 2 == 0:
            a.append(measure_a()), b.append(measure_b())
        else:
            b.append(measure_b()), a.append(measure_a())
    return a, b


def backbone_speedup(sparse, dense, inputs, rounds: int = 7) -> dict:
    """Paired A/B timing of two compiled models on the same batch (adapt's backbone check):
    one call each per round (``alternate``), the speedup by ``paired_ratio``."""
    import statistics

    def timed(model):
        def run() -> float:
            t0 = time.perf_counter()
            model.run(inputs)
            return time.perf_counter() - t0
        return run

    for _ in range(2):  # warm-up
        sparse.run(inputs), dense.run(inputs)
    sparse_s, dense_s = alternate(timed(sparse), timed(dense), rounds)
    ratio = paired_ratio(dense_s, sparse_s)
    return {"backbone_speedup": ratio.median, "backbone_speedup_min": ratio.low, "backbone_speedup_max": ratio.high,
            "backbone_ms_sparse": 1e3 * statistics.median(sparse_s),
            "backbone_ms_dense": 1e3 * statistics.median(dense_s)}
