"""``run_bench(BenchOptions) -> BenchResult``: compile, check and time every configuration,
shuffled over repeats, on the same pinned cores."""

from __future__ import annotations

import gc
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from ..cores import pinned
from ..engines import get_engine, list_engines, reference_engine
from ..errors import OptionError
from ..system import system_info
from ..tolerances import parity_tolerance
from ..validation import rel_diff
from .made import add_int8_peers, default_targets
from .memory import peak_rss_mib
from .options import BenchOptions, BenchResult
from .records import aggregate
from .targets import BenchTarget, baseline_from, resolve_path, unique_names
from .timing import time_async, time_sync


def _inputs(model, batch_size: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    return [np.ascontiguousarray(rng.standard_normal((batch_size, *model.input_shape), dtype=np.float32))]


class _References:
    """Reference outputs per (model, batch): PyTorch where the FP32 ticket is known, else
    ONNX Runtime on the graph (for INT8: the QDQ form, which the quantizer validated
    against the fake-quantized PyTorch model)."""

    def __init__(self, cores: int):
        self._cache: dict = {}
        self._cores = cores

    def get(self, model, inputs):
        key = (str(model.onnx_path), inputs[0].shape[0])
        if key not in self._cache:
            factory = model.torch_factory()
            if factory is not None:
                import torch

                with torch.inference_mode():
                    out = factory()(torch.from_numpy(inputs[0])).numpy()
                self._cache[key] = ("torch", out)
            else:
                engine = reference_engine()
                compiled = engine.compile(model.onnx_path, inputs[0].shape[0], self._cores)
                self._cache[key] = (engine.name, compiled.run(inputs)[0])
        return self._cache[key]


def tolerance_for(model, opts, settings: dict | None = None) -> float:
    return parity_tolerance(opts.tolerance, model.precision, (settings or {}).get("inference_precision"))


def _run_one(model, engine, batch_size, opts, cores, refs, native: bool) -> dict:
    """Compile, check correctness, time; returns this repeat's figures."""
    inputs = _inputs(model, batch_size, opts.seed)
    streams = (opts.streams or cores) if opts.scenario == "async" else 1
    t0 = time.perf_counter()
    compiled = engine.compile(model.path_for(engine), batch_size, cores, streams=streams, torch_model=model.torch_factory())
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = compiled.run(inputs)[0]
    first_ms = (time.perf_counter() - t0) * 1e3
    reference, expected = refs.get(model, inputs)
    _, rel = rel_diff(got, expected)
    if opts.scenario == "async":
        timing = time_async(compiled, inputs, batch_size, streams, opts.time_s, opts.min_iterations, opts.warmup_s)
    else:
        timing = time_sync(compiled, inputs, batch_size, opts.time_s, opts.min_iterations, opts.warmup_s)
    out = {
        "items_per_sec": timing.items_per_sec,
        "latencies": timing.latencies_s,
        "compile_s": compile_s,
        "first_inference_ms": first_ms,
        "max_rel_diff": rel,
        "reference": reference,
        "settings": dict(compiled.settings),
        "streams": streams,
    }
    if native and engine.native_benchmark:
        out["native_items_per_sec"] = compiled.native_benchmark(inputs, len(timing.latencies_s), 3)
    del compiled
    gc.collect()
    return out


def _label(targets):
    """Give every distinct graph a distinct name (same ONNX path, same name)."""
    distinct = {}
    for t in targets:
        for m in t.models():
            distinct.setdefault(str(m.onnx_path), m)
    renamed = dict(zip(distinct, unique_names(list(distinct.values()))))
    return [BenchTarget(renamed[str(t.model.onnx_path)], renamed[str(t.baseline.onnx_path)] if t.baseline else None,
                        tuple(renamed[str(p.onnx_path)] for p in t.peers)) for t in targets]


def _load_warning(cores: int) -> str | None:
    """DeepSparse slows down badly when another process shares its cores (measured here:
    batch-1 throughput fell about 10x with one of two cores busy; OpenVINO's halved)."""
    import os

    load = os.getloadavg()[0]
    if load <= 0.5:
        return None
    return (f"load average {load:.1f} when the run started: another process may share these {cores} cores, "
            "which slows DeepSparse down badly; measure on a quiet machine")


def _configs(models, engines: dict, batch_sizes, notes: list, ticket_engines=None) -> list:
    """(model, engine name, batch) for every engine that can run the model, by the engine's
    declared capabilities (tickets: only ``ticket_engines`` when given). A ticket that no
    selected engine runs is an input error."""
    configs = []
    for m in models:
        offered = {n: e for n, e in engines.items() if m.variant == "dense" or not ticket_engines or n in ticket_engines}
        able = [name for name, e in offered.items() if m.runs_on(e)]
        for name in sorted(set(offered) - set(able)):
            notes.append(f"{name} skipped for {m.name}: "
                         + (f"it does not run {m.precision.upper()} models" if m.precision not in engines[name].precisions
                            else "a bare ONNX file carries no PyTorch model"))
        if not able and m.variant != "dense":
            raise OptionError(f"none of --engine {','.join(offered)} runs {m.name} ({m.precision.upper()}); "
                              + ("choose from " + ", ".join(n for n, e in _all_engines().items() if m.runs_on(e))))
        configs += [(m, name, b) for name in sorted(able, key=list(engines).index) for b in batch_sizes]
    return configs


def _all_engines() -> dict:
    return {n: get_engine(n) for n in list_engines()}


def run_bench(opts: BenchOptions, log: Callable[[str], None] = lambda _m: None, argv: list[str] | None = None,
              targets: list | None = None) -> BenchResult:
    """``targets`` (already resolved BenchTargets) replaces ``opts.paths`` for scripted runs."""
    opts.validate()
    started = time.perf_counter()
    notes = []
    with pinned(opts.cores) as core, tempfile.TemporaryDirectory(prefix="edge-transfer-bench-") as tmp:
        if core.clamped:
            notes.append(f"--cores {core.requested} clamped to the {core.cores} physical cores present")
        busy = _load_warning(core.cores)
        if busy:
            notes.append(busy)
            log(f"warning: {busy}")
        targets = _label(_targets(opts, targets, Path(tmp), notes, log))
        models = {}
        for t in targets:
            for m in t.models():
                models.setdefault(str(m.onnx_path), m)
        engines = {name: get_engine(name) for name in opts.engines}
        configs = _configs(models.values(), engines, opts.batch_sizes, notes, opts.ticket_engines)
        runs = _measure(opts, configs, engines, core.cores, log)
        memory = _memory(opts, configs, engines, core.cores, log) if opts.memory else {}
        system = _system(core, engines)
        records = aggregate(targets, configs, runs, memory, opts, core, system["engine_versions"])
    command = shlex.join(argv if argv is not None else sys.argv)
    return BenchResult(records=records, system=system, command=command, notes=notes, seconds=time.perf_counter() - started)


def _targets(opts: BenchOptions, given: list | None, workdir: Path, notes: list, log) -> list:
    """What to time: the given targets, the paths resolved, or the default tickets; with
    --baseline one shared baseline, with --int8-peers the INT8 peers added."""
    if given is not None:
        targets = given
    elif opts.paths:
        targets = [resolve_path(p, opts.graph, opts.input_shape, workdir, log) for p in opts.paths]
    else:
        targets = default_targets(workdir, opts.graph, log)
    if opts.baseline != "dense":
        shared = baseline_from(Path(opts.baseline), opts.graph, opts.input_shape, workdir, log)
        targets = [type(t)(t.model, shared, t.peers) for t in targets]
    if opts.int8_peers:
        targets, peer_notes = add_int8_peers(targets, workdir, log)
        notes += peer_notes
    return targets


def _measure(opts: BenchOptions, configs: list, engines: dict, cores: int, log) -> dict:
    """Every configuration's repeats, each repeat in its own shuffled order (a slow drift of the
    machine spreads over every configuration instead of biasing the last)."""
    refs = _References(cores)
    runs: dict = {}
    total, done = len(configs) * opts.repeats, 0
    for repeat in range(opts.repeats):
        order = list(configs)
        random.Random(opts.seed + repeat).shuffle(order)
        for m, name, b in order:
            done += 1
            run = _run_one(m, engines[name], b, opts, cores, refs, opts.native_check and repeat == 0)
            runs.setdefault((str(m.onnx_path), name, b), []).append(run)
            log(f"[{done}/{total}] repeat {repeat + 1}/{opts.repeats} {name:11s} {m.name:28s} batch {b:3d}: "
                f"{run['items_per_sec']:9.1f} items/s"
                + ("" if run["max_rel_diff"] <= tolerance_for(m, opts, run["settings"]) else "  MISMATCH"))
    return runs


def _memory(opts: BenchOptions, configs: list, engines: dict, cores: int, log) -> dict:
    memory = {}
    for m, name, b in configs:
        log(f"peak memory: {name} {m.name} batch {b}")
        memory[(str(m.onnx_path), name, b)] = peak_rss_mib(name, m.path_for(engines[name]), b, cores,
                                                           m.torch_factory(), m.input_shape)
    return memory


def _system(core, engines: dict) -> dict:
    system = system_info()
    system.update({"cores_requested": core.requested, "cores": core.cores, "cores_clamped": core.clamped,
                   "cpu_ids": list(core.cpu_ids)})
    system["engine_versions"] = {name: e.version() for name, e in engines.items()}
    return system
