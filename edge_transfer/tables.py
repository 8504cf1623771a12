"""Plain-text and Markdown tables for console output and reports."""

from __future__ import annotations


def text_table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row):
        # Left-align the first column (names), right-align the figures.
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])


def markdown_table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(map(str, headers)) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(out)


def ticket_layer_table(meta: dict) -> tuple[list[str], list[list]]:
    """Per-layer rows of a ticket (from ticket.json), dense layers marked."""
    headers = ["layer", "shape", "params", "zeros", "sparsity", "MMACs", "MMACs left"]
    rows = []
    for r in meta["layers"]:
        name = r["name"].removesuffix(".weight") + ("" if r["prunable"] else " (dense)")
        rows.append(
            [
                name,
                "x".join(map(str, r["shape"])),
                r["params"],
                r["zeros"],
                f"{r['sparsity']:.1%}",
                f"{r['macs'] / 1e6:.1f}",
                f"{r['remaining_macs'] / 1e6:.1f}",
            ]
        )
    return headers, rows


def ticket_summary_lines(meta: dict) -> list[str]:
    t = meta["totals"]
    lines = [
        f"arch {meta['arch']}  method {meta['method']}  scope {meta['scope']}  target {meta['target_sparsity']:.2%}",
        f"achieved sparsity {t['achieved_sparsity']:.4%} of {t['prunable_params']:,} prunable weights "
        f"({t['prunable_zeros']:,} zeros)",
        f"MACs {t['dense_macs'] / 1e9:.3f} G dense -> {t['remaining_macs'] / 1e9:.3f} G left: "
        f"ideal (FLOP-proportional) speedup {t['ideal_speedup']:.2f}x",
    ]
    collapsed = [r["name"] for r in meta["layers"] if r["prunable"] and r["sparsity"] > 0.99]
    if collapsed:
        lines.append(
            f"warning: {len(collapsed)} layers are over 99% sparse ({collapsed[0].removesuffix('.weight')}...); "
            "global ranking favours pruning large layers, --scope layer spreads sparsity evenly"
        )
    if meta.get("untrained"):
        lines.append("NOTE: untrained weights: speed only (no --checkpoint was given)")
    return lines
