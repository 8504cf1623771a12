"""Bench outputs: console table, JSON, CSV, Markdown, PNG plot, and run-to-run comparison."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..errors import OptionError
from ..fileio import atomic_write_text, write_json as _write
from ..formats import BENCH_SCHEMA, FP32, read_record
from ..plots import save_figure, two_panels
from ..tables import markdown_table

TABLE_HEADERS = ["engine", "model", "prec.", "batch", "sparsity", "items/s", "p50 ms", "p99 ms",
                 "vs own dense FP32 [min-max]", "vs fastest dense [min-max]", "ideal", "eff.", "valid"]
HEADLINE_HEADERS = ["ticket", "prec.", "batch", "best engine", "items/s", "fastest dense peer", "peer items/s",
                    "speedup over it [min-max]"]


def _fmt(value, spec: str, empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


def _speed(r: dict, key: str) -> str:
    if r.get(key) is None:
        return "-"
    return f"{r[key]:.2f}x [{r[key + '_min']:.2f}-{r[key + '_max']:.2f}]"


def table_rows(records: list[dict]) -> list[list]:
    rows = []
    order = lambda r: (r["engine"], r.get("arch") or "", r["batch_size"], r.get("precision", FP32), r["sparsity"] or 0.0, r["model"])
    for r in sorted(records, key=order):
        rows.append([
            r["engine"], r["model"] + (" *" if r["untrained"] else ""), r.get("precision", FP32), r["batch_size"],
            _fmt(r["sparsity"], ".0%"), f"{r['items_per_sec']:.1f}", f"{r['latency_ms_p50']:.2f}",
            f"{r['latency_ms_p99']:.2f}", _speed(r, "speedup"), _speed(r, "speedup_vs_best_dense"),
            _fmt(r["ideal_speedup"], ".2f"), _fmt(r["efficiency"], ".0%"), "yes" if r["valid"] else "INVALID",
        ])
    return rows


def headline(records: list[dict]) -> list[dict]:
    """Per ticket, precision and batch: the engine that ran it fastest, against the fastest
    dense peer of the run (the figure a user who does not prune would otherwise get)."""
    best: dict = {}
    for r in records:
        if r["variant"] == "dense" or r.get("speedup_vs_best_dense") is None or not r["valid"]:
            continue
        key = (r["model"], r["batch_size"])
        if key not in best or r["items_per_sec"] > best[key]["items_per_sec"]:
            best[key] = r
    return sorted(best.values(), key=lambda r: (r.get("arch") or "", r["batch_size"], r.get("precision", FP32),
                                                r["sparsity"] or 0.0, r["model"]))


def headline_rows(records: list[dict]) -> list[list]:
    return [[r["model"] + (" *" if r["untrained"] else ""), r.get("precision", FP32), r["batch_size"], r["engine"],
             f"{r['items_per_sec']:.1f}", r["best_dense_peer"], f"{r['best_dense_peer_items_per_sec']:.1f}",
             _speed(r, "speedup_vs_best_dense")] for r in headline(records)]


def footnotes(result) -> list[str]:
    s = result.system
    lines = [f"{s['cpu_model']}, {s['cores']} cores pinned (requested {s['cores_requested']}"
             + (", clamped" if s["cores_clamped"] else "") + f"), ISA {s.get('isa')}; "
             f"items/s = median over repeats; speedups per repeat pair (median [min-max]): over the same engine's dense "
             "FP32 model, and over the fastest dense model of the run at that batch (any engine, FP32 or INT8)"]
    precisions = {f"{r['engine']}: {r['engine_settings']['inference_precision']}" for r in result.records
                  if (r.get("engine_settings") or {}).get("inference_precision")}
    if precisions:
        lines.append("OpenVINO runs FP32 graphs at its default inference precision on this CPU ("
                     + ", ".join(sorted(precisions)) + "): what its user gets")
    for note in sorted({r["note"] for r in result.records if r.get("note")}):
        lines.append(f"{', '.join(sorted({r['model'] for r in result.records if r.get('note') == note}))}: {note}")
    if any(r["untrained"] for r in result.records):
        lines.append("* untrained weights: speed only")
    lines.append("eff. = speedup over the dense model of the ticket's own precision / FLOP-proportional ideal")
    for r in result.records:
        if r.get("predicted_speedup") is not None:
            lines.append(f"speed target {r['model']} on {r['engine']} batch {r['batch_size']}: predicted "
                         f"{r['predicted_speedup']:.2f}x, measured {r['speedup_vs_own_precision_dense']:.2f}x "
                         f"over the dense {r['prediction_precision']} model (prediction error {r['prediction_error']:+.0%})"
                         + (f"; profiled on {r['prediction_cores']} cores, run on {r['cores']}"
                            if r["prediction_cores"] != r["cores"] else ""))
    native = [r for r in result.records if "native_items_per_sec" in r]
    for r in native:
        lines.append(f"DeepSparse Engine.benchmark on {r['model']} batch {r['batch_size']}: {r['native_items_per_sec']:.1f} items/s; "
                     f"this harness {r['harness_vs_native']:.1%} of it (same compiled engine, repeat 1)")
    return lines + list(result.notes)


def write_json(path: Path, result) -> None:
    _write(path, result.to_json())


def write_csv(path: Path, records: list[dict]) -> None:
    fields = list(dict.fromkeys(k for r in records for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(records)
    atomic_write_text(path, buffer.getvalue())


def markdown(result) -> str:
    return "\n".join(["# edge-transfer bench", "", f"`{result.command}`", "",
                      "## Speedup over the fastest dense peer (headline)", "",
                      markdown_table(HEADLINE_HEADERS, headline_rows(result.records)), "",
                      "## Every configuration", "",
                      markdown_table(TABLE_HEADERS, table_rows(result.records)), ""]
                     + [f"- {line}" for line in footnotes(result)]) + "\n"


def _errorbar(ax, rows: list[dict], key: str, label: str, style: dict) -> None:
    y = [r[key] for r in rows]
    err = [[a - r[key + "_min"] for a, r in zip(y, rows)], [r[key + "_max"] - a for a, r in zip(y, rows)]]
    ax.errorbar([r["sparsity"] for r in rows], y, yerr=err, capsize=2, label=label, **style)


def plot(path: Path, records: list[dict]) -> None:
    """Left (the headline): speedup over the fastest dense peer of the run vs sparsity, the
    best engine per ticket, one line per (architecture, precision, batch). Right: speedup
    over the same engine's dense FP32 model per (engine, precision, batch), beside the
    FLOP-proportional ideal. Line style tells architectures apart."""
    fig, (ax_best, ax_sp) = two_panels(14, 5.5)
    archs = sorted({r.get("arch") or "" for r in records})
    styles = dict(zip(archs, ["-", "--", ":", "-."] * len(archs)))
    top = headline(records)
    lines = sorted({(r.get("precision", FP32), r["batch_size"]) for r in top})
    colors = {key: f"C{i % 10}" for i, key in enumerate(lines)}
    for arch in archs:
        for precision, batch in lines:
            rows = sorted((r for r in top if (r.get("arch") or "") == arch and r.get("precision", FP32) == precision
                           and r["batch_size"] == batch), key=lambda r: r["sparsity"] or 0.0)
            if rows:
                _errorbar(ax_best, rows, "speedup_vs_best_dense", f"{arch} {precision} b{batch}".strip(),
                          dict(color=colors[(precision, batch)], linestyle=styles[arch], marker="o", markersize=3))
    ax_best.axhline(1.0, color="k", linewidth=0.8)
    series = sorted({(r["engine"], r.get("precision", FP32), r["batch_size"]) for r in records})
    colors = {key: f"C{i % 10}" for i, key in enumerate(series)}
    for arch in archs:
        of_arch = [r for r in records if (r.get("arch") or "") == arch and r["sparsity"] and r["speedup"] is not None]
        for engine, precision, batch in series:
            rows = sorted((r for r in of_arch if (r["engine"], r.get("precision", FP32), r["batch_size"])
                           == (engine, precision, batch)), key=lambda r: r["sparsity"])
            if rows:
                _errorbar(ax_sp, rows, "speedup", f"{arch} {engine} {precision} b{batch}".strip(),
                          dict(color=colors[(engine, precision, batch)], linestyle=styles[arch], marker="o", markersize=3))
        ideal = sorted({(r["sparsity"], r["ideal_speedup"]) for r in of_arch if r["ideal_speedup"] is not None})
        if ideal:
            ax_sp.plot([s for s, _ in ideal], [i for _, i in ideal], color="k", linestyle=styles[arch],
                       label=f"{arch} ideal (FLOPs)".strip())
    ax_best.set(xlabel="sparsity", ylabel="speedup over the fastest dense peer (log)", yscale="log",
                title="ticket (best engine) vs fastest dense model of the run")
    ax_sp.set(xlabel="sparsity", ylabel="speedup over the same engine's dense FP32 (log)", yscale="log",
              title="speedup vs own dense FP32 baseline")
    save_figure(fig, (ax_best, ax_sp), path)


def _key(r: dict) -> tuple:
    return (r["engine"], r["model"], r["variant"], r["batch_size"], r["cores"], r["scenario"])


def _comparable(r) -> bool:
    """A bench record with the fields compare reads, of the types it formats and sorts."""
    import math

    def number(v, none_ok=False):
        return (v is None and none_ok) or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))

    return (isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("engine", "model", "variant", "scenario"))
            and all(isinstance(r.get(k), int) and not isinstance(r.get(k), bool) for k in ("batch_size", "cores"))
            and number(r.get("items_per_sec")) and number(r.get("speedup"), none_ok=True))


def compare(path_a: Path, path_b: Path) -> tuple[list[str], list[list]]:
    """Rows matched by (engine, model, variant, batch, cores, scenario): B / A items/s."""
    runs, fix = [], "give two files written by `bench --json`"
    for path in (path_a, path_b):
        data = read_record(Path(path), (BENCH_SCHEMA,), OptionError, fix)
        results = data.get("results")
        if not isinstance(results, list) or not results or not all(_comparable(r) for r in results):
            raise OptionError(f"{path} has no readable results (each needs engine, model, variant and scenario as "
                              f"text, batch_size and cores as integers, items_per_sec and speedup as numbers); {fix}")
        runs.append({_key(r): r for r in results if r["items_per_sec"] > 0 and "speedup" in r})
    a, b = runs
    rows = []
    for key in sorted(set(a) & set(b)):
        ra, rb = a[key], b[key]
        rows.append([key[0], key[1], key[3], f"{ra['items_per_sec']:.1f}", f"{rb['items_per_sec']:.1f}",
                     f"{rb['items_per_sec'] / ra['items_per_sec']:.3f}", _fmt(ra["speedup"], ".2f"), _fmt(rb["speedup"], ".2f")])
    if not rows:
        raise OptionError(f"{path_a} and {path_b} share no (engine, model, batch, cores, scenario) rows to compare")
    return ["engine", "model", "batch", "A items/s", "B items/s", "B/A", "A speedup", "B speedup"], rows
