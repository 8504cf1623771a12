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


def ticket_layer_table(meta, blocks_pruned: dict[str, float] | None = None) -> tuple[list[str], list[list]]:
    """Per-layer rows of a ticket (a formats.TicketMeta), dense layers marked. ``blocks_pruned``
    (a block ticket's ``{layer: fraction of its blocks pruned}``, from the masks) adds a column."""
    headers = ["layer", "shape", "params", "zeros", "sparsity", "MMACs", "MMACs left"]
    if blocks_pruned is not None:
        headers.append(f"1x{meta.block} blocks pruned")
    rows = []
    for r in meta.layers:
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
        if blocks_pruned is not None:
            rows[-1].append(f"{blocks_pruned[r['name']]:.1%}" if r["name"] in blocks_pruned else "-")
    return headers, rows


def block_summary_line(block: int, blocks: int, pruned_blocks: int, whole: bool) -> str:
    """A block ticket's structure, from its masks: share of blocks pruned, and whether every
    pruned weight lies in a fully pruned block."""
    share = pruned_blocks / blocks if blocks else 0.0
    return (f"block 1x{block} along input channels: {share:.1%} of 1x{block} blocks pruned, "
            f"every zero in a whole block: {'yes' if whole else 'no'}")


def ticket_summary_lines(meta) -> list[str]:
    """Summary of a ticket (a formats.TicketMeta)."""
    t, block = meta.totals, meta.block
    target = "per-layer allocation" if meta.target_sparsity is None else f"target {meta.target_sparsity:.2%}"
    lines = [
        f"arch {meta.arch}  method {meta.method}  scope {meta.scope}  {target}" + (f"  block 1x{block}" if block > 1 else ""),
        f"achieved sparsity {t['achieved_sparsity']:.4%} of {t['prunable_params']:,} prunable weights "
        f"({t['prunable_zeros']:,} zeros)",
        f"MACs {t['dense_macs'] / 1e9:.3f} G dense -> {t['remaining_macs'] / 1e9:.3f} G left: "
        f"ideal (FLOP-proportional) speedup {t['ideal_speedup']:.2f}x",
    ]
    lines += allocation_lines(meta.allocation)
    collapsed = [r["name"] for r in meta.layers if r["prunable"] and r["sparsity"] > 0.99]
    if collapsed and meta.allocation:  # chosen per layer, on purpose: say so, do not advise --scope
        lines.append(f"{len(collapsed)} layers are over 99% sparse ({collapsed[0].removesuffix('.weight')}...), as the "
                     "allocation chose")
    elif collapsed:
        lines.append(
            f"warning: {len(collapsed)} layers are over 99% sparse ({collapsed[0].removesuffix('.weight')}...); "
            "global ranking favours pruning large layers, --scope layer spreads sparsity evenly"
        )
    if meta.untrained:
        lines.append("NOTE: untrained weights: speed only (no --checkpoint was given)")
    return lines


def allocation_lines(allocation: dict | None) -> list[str]:
    """What a per-layer allocation promised: its speed target, the prediction and the profile."""
    if not allocation:
        return []
    layers = allocation["layers"]
    spread = f"layer sparsities {min(layers.values()):.0%} to {max(layers.values()):.0%}" if layers else "no layers"
    if allocation.get("source") != "target-speedup":
        return [f"allocation: given per layer ({spread})"]
    p = allocation["profile"]
    peer = allocation.get("best_peer")  # --over best-peer: the target was set against this measured peer
    over = "" if not peer else (f"{allocation['target_speedup'] / peer['ratio']:.3g}x over the best peer "
                                f"{peer['name']}, measured at {peer['ratio']:.2f}x the dense form, = ")
    return [f"allocation: speed target {over}{allocation['target_speedup']:.3g}x over dense, predicted "
            f"{allocation['predicted_speedup']:.2f}x ({allocation['dense_ms']:.2f} -> {allocation['predicted_ms']:.2f} ms) "
            f"on {p['engine']} {p['precision']} block {p['block']}, batch {p['batch_size']}, {p['cores']} cores ({spread}; "
            f"{allocation['criterion']})"]
