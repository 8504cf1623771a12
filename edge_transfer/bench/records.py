"""Turn per-repeat runs into flat result records (one per model, engine, batch)."""

from __future__ import annotations

import statistics

from ..tolerances import parity_tolerance
from .timing import PERCENTILE_METHOD, latency_stats_ms, paired_ratio


def _spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def _pair_speedups(runs_a: list[dict], runs_b: list[dict]) -> tuple[float, float, float]:
    """Repeat i of A against repeat i of B: same batch and cores, measured side by side."""
    n = min(len(runs_a), len(runs_b))
    ratio = paired_ratio([a["items_per_sec"] for a in runs_a[:n]], [b["items_per_sec"] for b in runs_b[:n]])
    return ratio.median, ratio.low, ratio.high


def fastest_dense_peers(records: list[dict]) -> dict:
    """{(group, batch): the dense record with the highest median items/s}: every dense model
    (FP32 and INT8) on every engine that ran it, valid rows only."""
    best: dict = {}
    for r in records:
        if r["variant"] != "dense" or not r["valid"]:
            continue
        key = (r["group"], r["batch_size"])
        if key not in best or r["items_per_sec"] > best[key]["items_per_sec"]:
            best[key] = r
    return best


def peer_label(r: dict) -> str:
    return f"{r['engine']} {r['model']}"


def add_best_peer_speedups(records: list[dict], runs: dict) -> None:
    """Give every non-dense row its speedup over the fastest dense peer of the run at the
    same batch (per repeat pair), naming the peer: the headline figure."""
    best = fastest_dense_peers(records)
    for r in records:
        peer = best.get((r["group"], r["batch_size"]))
        fields = dict.fromkeys(("best_dense_peer", "best_dense_peer_items_per_sec", "speedup_vs_best_dense",
                                "speedup_vs_best_dense_min", "speedup_vs_best_dense_max"))
        if peer is not None and r["variant"] != "dense":
            mine = runs[(r["onnx_path"], r["engine"], r["batch_size"])]
            theirs = runs[(peer["onnx_path"], peer["engine"], peer["batch_size"])]
            med, lo, hi = _pair_speedups(mine, theirs)
            fields.update(best_dense_peer=peer_label(peer), best_dense_peer_items_per_sec=peer["items_per_sec"],
                          speedup_vs_best_dense=med, speedup_vs_best_dense_min=lo, speedup_vs_best_dense_max=hi)
        r.update(fields)


def aggregate(targets, configs, runs, memory, opts, core, versions) -> list[dict]:
    """One record per (model, engine, batch): its repeats' figures, its speedups over its
    baseline and over the dense model of its own precision (paired repeat by repeat), its
    parity, memory and settings; then every row's speedup over the fastest dense peer."""
    baseline_of = {str(t.model.onnx_path): t.baseline for t in targets}
    # the dense model of the ticket's own precision: an INT8 ticket's efficiency and predicted
    # speedup are over the INT8 dense model, not the FP32 baseline (that gave efficiencies > 100%)
    same_precision_dense = {str(t.model.onnx_path): next((m for m in (t.baseline, *t.peers) if m is not None
                                                          and m.variant == "dense" and m.precision == t.model.precision),
                                                         None) for t in targets}
    records = []
    for model, engine, batch in configs:
        key = (str(model.onnx_path), engine, batch)
        rs = runs[key]
        baseline = baseline_of.get(str(model.onnx_path))
        speedups = _speedups(model, rs, runs, (engine, batch), baseline, same_precision_dense.get(str(model.onnx_path)))
        record = {**_identity(model, engine, batch, baseline, versions, core, opts, rs),
                  **_timing_fields(rs), **speedups, **_parity_fields(model, rs, opts), **_memory_fields(memory.get(key)),
                  "engine_settings": rs[0]["settings"], "time_s": opts.time_s, "warmup_s": opts.warmup_s,
                  "min_iterations": opts.min_iterations, "seed": opts.seed}
        record.update(_prediction_fields(model.prediction, engine, batch, core.cores,
                                         speedups["speedup_vs_own_precision_dense"]))
        native = [r["native_items_per_sec"] for r in rs if "native_items_per_sec" in r]
        if native:
            record["native_items_per_sec"] = native[0]
            record["harness_vs_native"] = rs[0]["items_per_sec"] / native[0]
        records.append(record)
    add_best_peer_speedups(records, runs)
    return records


def _identity(model, engine: str, batch: int, baseline, versions: dict, core, opts, rs: list) -> dict:
    return {"engine": engine, "engine_version": versions[engine], "model": model.name, "arch": model.arch,
            "variant": model.variant, "precision": model.precision,
            "group": f"{model.arch or 'onnx'} {'x'.join(map(str, model.input_shape))}", "note": model.note,
            "onnx_path": str(model.onnx_path), "baseline": baseline.name if baseline is not None else None,
            "sparsity": model.sparsity, "untrained": model.untrained, "batch_size": batch, "cores": core.cores,
            "cores_requested": core.requested, "cores_clamped": core.clamped, "scenario": opts.scenario,
            "streams": rs[0]["streams"], "repeats": len(rs)}


def _timing_fields(rs: list) -> dict:
    ips_med, ips_min, ips_max = _spread([r["items_per_sec"] for r in rs])
    return {"iterations": sum(len(r["latencies"]) for r in rs), "items_per_sec": ips_med,
            "items_per_sec_min": ips_min, "items_per_sec_max": ips_max,
            **latency_stats_ms([x for r in rs for x in r["latencies"]]), "percentile_method": PERCENTILE_METHOD,
            "compile_s": statistics.median(r["compile_s"] for r in rs),
            "first_inference_ms": statistics.median(r["first_inference_ms"] for r in rs)}


def _speedups(model, rs: list, runs: dict, engine_batch: tuple, baseline, own) -> dict:
    """Over the baseline (repeat i of the ticket against repeat i of its baseline: same engine,
    batch, cores) and over the dense model of the ticket's own precision, whose ratio to the
    ideal speedup is the efficiency."""
    base_runs = runs.get((str(baseline.onnx_path), *engine_batch)) if baseline is not None else None
    speedup = speedup_min = speedup_max = ideal = efficiency = None
    if base_runs:
        speedup, speedup_min, speedup_max = _pair_speedups(rs, base_runs)
        ideal = model.ideal_speedup
    own_runs = runs.get((str(own.onnx_path), *engine_batch)) if own is not None else None
    own_speedup = _pair_speedups(rs, own_runs)[0] if own_runs else None
    if own_speedup is not None and ideal:
        efficiency = own_speedup / ideal
    return {"speedup": speedup, "speedup_min": speedup_min, "speedup_max": speedup_max, "ideal_speedup": ideal,
            "efficiency": efficiency,
            "speedup_vs_own_precision_dense": own_speedup}  # INT8 ticket over dense INT8, FP32 over dense FP32


def _parity_fields(model, rs: list, opts) -> dict:
    rel = max(r["max_rel_diff"] for r in rs)
    tolerance = parity_tolerance(opts.tolerance, model.precision, rs[0]["settings"].get("inference_precision"))
    return {"reference": rs[0]["reference"], "max_rel_diff": rel, "tolerance": tolerance, "valid": rel <= tolerance,
            "fraction_of_supported_ops": rs[0]["settings"].get("fraction_of_supported_ops")}


def _memory_fields(measured: tuple | None) -> dict:
    before, peak = measured or (None, None)
    # what compiling and running this model added to the process (peak - before)
    return {"peak_rss_mib": peak, "rss_before_compile_mib": before,
            "engine_rss_mib": peak - before if peak is not None else None}


def _prediction_fields(prediction, engine: str, batch: int, cores: int, measured: float | None) -> dict:
    """A speed-target ticket's predicted speedup beside the measured one (over the dense model of
    its own precision), where this row is the engine and batch its profile was measured at."""
    if prediction is None or (engine, batch) != (prediction.engine, prediction.batch_size) or measured is None:
        return {}
    return {"predicted_speedup": prediction.speedup, "prediction_error": measured / prediction.speedup - 1,
            "prediction_cores": prediction.cores, "prediction_precision": prediction.precision}
