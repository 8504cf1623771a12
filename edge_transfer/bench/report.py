"""Bench outputs: console table, JSON, CSV, Markdown, PNG plot, and run-to-run comparison."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..errors import OptionError

TABLE_HEADERS = ["engine", "model", "batch", "sparsity", "items/s", "p50 ms", "p99 ms", "speedup [min-max]", "ideal", "eff.", "valid"]


def _fmt(value, spec: str, empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


def table_rows(records: list[dict]) -> list[list]:
    rows = []
    for r in sorted(records, key=lambda r: (r["engine"], r.get("arch") or "", r["batch_size"], r["sparsity"] or 0.0, r["model"])):
        speed = "-" if r["speedup"] is None else f"{r['speedup']:.2f}x [{r['speedup_min']:.2f}-{r['speedup_max']:.2f}]"
        rows.append([
            r["engine"], r["model"] + (" *" if r["untrained"] else ""), r["batch_size"], _fmt(r["sparsity"], ".0%"),
            f"{r['items_per_sec']:.1f}", f"{r['latency_ms_p50']:.2f}", f"{r['latency_ms_p99']:.2f}", speed,
            _fmt(r["ideal_speedup"], ".2f"), _fmt(r["efficiency"], ".0%"), "yes" if r["valid"] else "INVALID",
        ])
    return rows


def footnotes(result) -> list[str]:
    s = result.system
    lines = [f"{s['cpu_model']}, {s['cores']} cores pinned (requested {s['cores_requested']}"
             + (", clamped" if s["cores_clamped"] else "") + f"), ISA {s.get('isa')}; "
             f"items/s = median over repeats, speedup = ticket/dense per repeat pair (median [min-max])"]
    if any(r["untrained"] for r in result.records):
        lines.append("* untrained weights: speed only")
    native = [r for r in result.records if "native_items_per_sec" in r]
    for r in native:
        lines.append(f"DeepSparse Engine.benchmark on {r['model']} batch {r['batch_size']}: {r['native_items_per_sec']:.1f} items/s; "
                     f"this harness {r['harness_vs_native']:.1%} of it (same compiled engine, repeat 1)")
    return lines + list(result.notes)


def write_json(path: Path, result) -> None:
    from ..fileio import write_json as _write

    _write(path, result.to_json())


def write_csv(path: Path, records: list[dict]) -> None:
    from ..fileio import atomic_write_text

    fields = list(dict.fromkeys(k for r in records for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(records)
    atomic_write_text(path, buffer.getvalue())


def markdown(result) -> str:
    from ..tables import markdown_table

    return "\n".join(["# edge-transfer bench", "", f"`{result.command}`", "",
                      markdown_table(TABLE_HEADERS, table_rows(result.records)), ""]
                     + [f"- {line}" for line in footnotes(result)]) + "\n"


def plot(path: Path, records: list[dict]) -> None:
    """Throughput vs sparsity and speedup vs sparsity (beside the FLOP-ideal), one line per
    (architecture, engine, batch); line style tells architectures apart."""
    from ..plots import save_figure, two_panels

    fig, (ax_tp, ax_sp) = two_panels(13, 5)
    archs = sorted({r.get("arch") or "" for r in records})
    styles = dict(zip(archs, ["-", "--", ":", "-."] * len(archs)))
    engines_batches = sorted({(r["engine"], r["batch_size"]) for r in records})
    colors = {key: f"C{i % 10}" for i, key in enumerate(engines_batches)}
    for arch in archs:
        of_arch = [r for r in records if (r.get("arch") or "") == arch and r["sparsity"] is not None]
        for engine, batch in engines_batches:
            rows = sorted((r for r in of_arch if r["engine"] == engine and r["batch_size"] == batch), key=lambda r: r["sparsity"])
            if not rows:
                continue
            style = dict(color=colors[(engine, batch)], linestyle=styles[arch], marker="o", markersize=3)
            label = f"{arch} {engine} b{batch}".strip()
            ax_tp.plot([r["sparsity"] for r in rows], [r["items_per_sec"] for r in rows], label=label, **style)
            sp = [r for r in rows if r["speedup"] is not None]
            if sp:
                y = [r["speedup"] for r in sp]
                err = [[a - r["speedup_min"] for a, r in zip(y, sp)], [r["speedup_max"] - a for a, r in zip(y, sp)]]
                ax_sp.errorbar([r["sparsity"] for r in sp], y, yerr=err, capsize=2, label=label, **style)
        ideal = sorted({(r["sparsity"], r["ideal_speedup"]) for r in of_arch if r["ideal_speedup"] is not None})
        if ideal:
            ax_sp.plot([s for s, _ in ideal], [i for _, i in ideal], color="k", linestyle=styles[arch],
                       label=f"{arch} ideal (FLOPs)".strip())
    ax_tp.set(xlabel="sparsity", ylabel="items/s (log)", title="throughput", yscale="log")
    ax_sp.set(xlabel="sparsity", ylabel="speedup over dense (log)", title="speedup vs dense baseline", yscale="log")
    save_figure(fig, (ax_tp, ax_sp), path)


def _key(r: dict) -> tuple:
    return (r["engine"], r["model"], r["variant"], r["batch_size"], r["cores"], r["scenario"])


def compare(path_a: Path, path_b: Path) -> tuple[list[str], list[list]]:
    """Rows matched by (engine, model, variant, batch, cores, scenario): B / A items/s."""
    runs = []
    for path in (path_a, path_b):
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise OptionError(f"cannot read bench results {path} ({exc}); give two files written by `bench --json`") from None
        if data.get("schema") != "edge-transfer.bench/1":
            raise OptionError(f"{path} is not an edge-transfer bench result (schema {data.get('schema')!r})")
        runs.append({_key(r): r for r in data["results"]})
    a, b = runs
    rows = []
    for key in sorted(set(a) & set(b)):
        ra, rb = a[key], b[key]
        rows.append([key[0], key[1], key[3], f"{ra['items_per_sec']:.1f}", f"{rb['items_per_sec']:.1f}",
                     f"{rb['items_per_sec'] / ra['items_per_sec']:.3f}", _fmt(ra["speedup"], ".2f"), _fmt(rb["speedup"], ".2f")])
    if not rows:
        raise OptionError(f"{path_a} and {path_b} share no (engine, model, batch, cores, scenario) rows to compare")
    return ["engine", "model", "batch", "A items/s", "B items/s", "B/A", "A speedup", "B speedup"], rows
