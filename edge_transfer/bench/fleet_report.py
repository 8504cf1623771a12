"""The fleet bench's report: one headline table per host, and a plot comparing hosts."""

from __future__ import annotations

from pathlib import Path

from ..formats import FP32
from ..plots import save_figure
from ..tables import text_table
from .fleet import host_label
from .report import HEADLINE_HEADERS, headline, headline_rows


def fleet_tables(fleet: dict) -> list[tuple[str, list[list]]]:
    """(title, rows) per worker: its host, CPU, ISA flags and cores, then the speedup table."""
    out = []
    for bench in fleet["benches"]:
        who, system = bench["worker"], bench["result"]["system"]
        title = (f"{host_label(bench)}: {who['cpu_model']}, {who['physical_cores']} physical cores, "
                 f"{system['cores']} pinned, ISA {' '.join(who['isa']) or 'unknown'}")
        out.append((title, headline_rows(bench["result"]["results"])))
    return out


def fleet_text(fleet: dict) -> str:
    parts = [f"{title}\n{text_table(HEADLINE_HEADERS, rows)}" for title, rows in fleet_tables(fleet)]
    return "\n\n".join(parts) + "\nspeedup: over the fastest dense model of that worker's own run (median [min-max] over repeats)"


def fleet_markdown(fleet: dict) -> str:
    lines = [f"# Fleet bench on {fleet['cluster']}", "", f"`{fleet['command']}`", ""]
    for title, rows in fleet_tables(fleet):
        lines += [f"## {title}", "", "| " + " | ".join(HEADLINE_HEADERS) + " |",
                  "|" + "---|" * len(HEADLINE_HEADERS)]
        lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows] + [""]
    return "\n".join(lines)


def fleet_plot(path: Path, fleet: dict) -> None:
    """Speedup over the fastest dense peer per ticket and batch, one bar per host."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tops = {host_label(b): {(r["model"], r.get("precision", FP32), r["batch_size"]): r["speedup_vs_best_dense"]
                            for r in headline(b["result"]["results"])} for b in fleet["benches"]}
    cells = sorted({cell for top in tops.values() for cell in top}, key=lambda c: (c[2], c[1], c[0]))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(cells) + 2), 4.5))
    width = 0.8 / max(len(tops), 1)
    for i, (host, top) in enumerate(sorted(tops.items())):
        ax.bar(np.arange(len(cells)) + i * width, [top.get(c, np.nan) for c in cells], width, label=host)
    ax.axhline(1.0, color="gray", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(cells)) + width * (len(tops) - 1) / 2)
    ax.set_xticklabels([f"{m}\n{p} b{b}" for m, p, b in cells], fontsize=8)
    ax.set_ylabel("speedup over the fastest dense peer")
    ax.set_title("Where the ticket pays off: each host's own run")
    save_figure(fig, [ax], path)
