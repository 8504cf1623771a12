"""``edge-transfer info``: a ticket's per-layer table and its ideal speedup."""

from __future__ import annotations

from pathlib import Path

from ..backbones import get_backbone_cfg, list_backbones
from ..errors import OptionError, TicketError
from ..fileio import write_json
from ..prune.magnitude import block_counts
from ..tables import block_summary_line, text_table, ticket_layer_table, ticket_summary_lines
from ..ticket import load_ticket
from . import _args


def add_arguments(parser) -> None:
    parser.add_argument("ticket", type=_args.input_path, nargs="?", help="ticket folder")
    parser.add_argument("--json", type=_args.output_file, metavar="OUT", help="also write the summary and layers as JSON")
    parser.add_argument("--list-archs", action="store_true", help="list the registered architectures and exit")


def print_ticket_summary(meta) -> None:
    print("\n".join(ticket_summary_lines(meta)))


def _block_structure(ticket, block: int) -> dict:
    """``{layer: BlockCount}`` of a block ticket, computed from its masks."""
    out = {}
    for name, mask in ticket.masks.items():
        if mask.shape[1] % block:
            raise TicketError(f"ticket {ticket.path} says block {block} but {name} has {mask.shape[1]} input channels; "
                              "redraw it")
        out[name] = block_counts(mask, block)
    return out


def run(args) -> int:
    if args.list_archs:
        for name in list_backbones():
            cfg = get_backbone_cfg(name)
            print(f"{name:16s} input {'x'.join(map(str, cfg.input_size))}  classes {cfg.num_classes}")
        return 0
    if args.ticket is None:
        raise OptionError("give a ticket folder (edge-transfer info TICKET) or --list-archs")

    ticket = load_ticket(args.ticket)  # re-checks that masked weights are zero
    block = ticket.meta.block
    blocks = _block_structure(ticket, block) if block > 1 else None
    headers, rows = ticket_layer_table(ticket.meta, None if blocks is None else
                                       {name: b.pruned / b.blocks for name, b in blocks.items()})
    print(f"ticket {ticket.path}: {ticket.label}")
    print(text_table(headers, rows))
    print_ticket_summary(ticket.meta)
    record = {"ticket": str(ticket.path), **{k: getattr(ticket.meta, k) for k in ("arch", "method", "totals")},
              "layers": list(ticket.meta.layers)}
    if blocks is not None:
        n, pruned = sum(b.blocks for b in blocks.values()), sum(b.pruned for b in blocks.values())
        whole = all(b.whole for b in blocks.values())
        print(block_summary_line(block, n, pruned, whole))
        record["block"] = {"size": block, "blocks": n, "pruned_blocks": pruned, "every_zero_in_whole_block": whole,
                           "layers": {name: {"blocks": b.blocks, "pruned_blocks": b.pruned}
                                      for name, b in blocks.items()}}
    if args.json:
        write_json(args.json, record)
    return 0
