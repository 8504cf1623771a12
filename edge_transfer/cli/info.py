"""``edge-transfer info``: a ticket's per-layer table and its ideal speedup."""

from __future__ import annotations

from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("ticket", type=Path, nargs="?", help="ticket folder")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the summary and layers as JSON")
    parser.add_argument("--list-archs", action="store_true", help="list the registered architectures and exit")


def print_ticket_summary(meta: dict) -> None:
    from ..tables import ticket_summary_lines

    print("\n".join(ticket_summary_lines(meta)))


def run(args) -> int:
    from ..errors import OptionError

    if args.list_archs:
        from ..backbones import get_backbone_cfg, list_backbones

        for name in list_backbones():
            cfg = get_backbone_cfg(name)
            print(f"{name:16s} input {'x'.join(map(str, cfg.input_size))}  classes {cfg.num_classes}")
        return 0
    if args.ticket is None:
        raise OptionError("give a ticket folder (edge-transfer info TICKET) or --list-archs")
    from ..fileio import write_json
    from ..tables import text_table, ticket_layer_table
    from ..ticket import load_ticket

    ticket = load_ticket(args.ticket)  # re-checks that masked weights are zero
    headers, rows = ticket_layer_table(ticket.meta)
    print(f"ticket {ticket.path}: {ticket.label}")
    print(text_table(headers, rows))
    print_ticket_summary(ticket.meta)
    if args.json:
        write_json(args.json, {"ticket": str(ticket.path), **{k: ticket.meta[k] for k in ("arch", "method", "totals", "layers")}})
    return 0
