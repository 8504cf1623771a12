"""Turn per-repeat runs into flat result records (one per model, engine, batch)."""

from __future__ import annotations

import statistics


def _spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def aggregate(targets, configs, runs, memory, opts, core, versions) -> list[dict]:
    from .timing import PERCENTILE_METHOD, latency_stats_ms

    baseline_of = {str(t.model.onnx_path): t.baseline for t in targets}
    records = []
    for model, engine, batch in configs:
        key = (str(model.onnx_path), engine, batch)
        rs = runs[key]
        ips = [r["items_per_sec"] for r in rs]
        ips_med, ips_min, ips_max = _spread(ips)
        baseline = baseline_of.get(str(model.onnx_path))
        base_runs = runs.get((str(baseline.onnx_path), engine, batch)) if baseline is not None else None
        speedup = speedup_min = speedup_max = efficiency = ideal = None
        if base_runs:
            # Repeat i of the ticket against repeat i of its baseline: same engine, batch, cores.
            speedup, speedup_min, speedup_max = _spread([a["items_per_sec"] / b["items_per_sec"] for a, b in zip(rs, base_runs)])
            ideal = model.ideal_speedup
            efficiency = speedup / ideal if ideal else None
        rel = max(r["max_rel_diff"] for r in rs)
        before, peak = memory.get(key, (None, None))
        record = {
            "engine": engine,
            "engine_version": versions[engine],
            "model": model.name,
            "arch": model.arch,
            "variant": model.variant,
            "onnx_path": str(model.onnx_path),
            "baseline": baseline.name if baseline is not None else None,
            "sparsity": model.sparsity,
            "untrained": model.untrained,
            "batch_size": batch,
            "cores": core.cores,
            "cores_requested": core.requested,
            "cores_clamped": core.clamped,
            "scenario": opts.scenario,
            "streams": rs[0]["streams"],
            "repeats": len(rs),
            "iterations": sum(len(r["latencies"]) for r in rs),
            "items_per_sec": ips_med,
            "items_per_sec_min": ips_min,
            "items_per_sec_max": ips_max,
            **latency_stats_ms([x for r in rs for x in r["latencies"]]),
            "percentile_method": PERCENTILE_METHOD,
            "speedup": speedup,
            "speedup_min": speedup_min,
            "speedup_max": speedup_max,
            "ideal_speedup": ideal,
            "efficiency": efficiency,
            "compile_s": statistics.median(r["compile_s"] for r in rs),
            "first_inference_ms": statistics.median(r["first_inference_ms"] for r in rs),
            "reference": rs[0]["reference"],
            "max_rel_diff": rel,
            "tolerance": opts.tolerance,
            "valid": rel <= opts.tolerance,
            "peak_rss_mib": peak,
            "rss_before_compile_mib": before,
            # What compiling and running this model added to the process (peak - before).
            "engine_rss_mib": peak - before if peak is not None else None,
            "fraction_of_supported_ops": rs[0]["settings"].get("fraction_of_supported_ops"),
            "time_s": opts.time_s,
            "warmup_s": opts.warmup_s,
            "min_iterations": opts.min_iterations,
            "seed": opts.seed,
        }
        native = [r["native_items_per_sec"] for r in rs if "native_items_per_sec" in r]
        if native:
            record["native_items_per_sec"] = native[0]
            record["harness_vs_native"] = rs[0]["items_per_sec"] / native[0]
        records.append(record)
    return records
