"""``edge-transfer prune``: draw a ticket."""

from __future__ import annotations

from pathlib import Path

from . import _args


def add_arguments(parser) -> None:
    from ..prune import METHODS, PRETRAINING, SCOPES

    g = parser.add_argument_group("source model")
    g.add_argument("--arch", required=True, help="architecture name (see `edge-transfer info --list-archs`)")
    g.add_argument("--checkpoint", type=Path, help="pretrained weights; without it: random init, speed only")
    g.add_argument("--trust-checkpoint", action="store_true", help="allow arbitrary unpickling (only for files you trust)")
    g.add_argument("--pretraining", default="unknown", choices=PRETRAINING, help="how the checkpoint was trained (recorded)")
    g = parser.add_argument_group("pruning")
    g.add_argument("--method", default="omp", choices=sorted(METHODS), help="drawing scheme (default: omp)")
    g.add_argument("--sparsity", type=_args.sparsity, default=0.9, help="fraction of prunable weights set to 0 (default 0.9)")
    g.add_argument("--scope", default="global", choices=SCOPES, help="rank weights globally or per layer (default global)")
    g.add_argument("--prune-first-conv", action="store_true", help="also prune the stem convolution (kept dense by default)")
    g.add_argument("--seed", type=int, default=0, help="seed of the random init (default 0)")
    g = parser.add_argument_group("output")
    g.add_argument("--output", type=Path, required=True, help="ticket folder to create")
    g.add_argument("--force", action="store_true", help="replace an existing output folder")


def run(args) -> int:
    from ..prune import PruneOptions, draw_ticket
    from .info import print_ticket_summary

    opts = PruneOptions(
        arch=args.arch,
        output=args.output,
        method=args.method,
        sparsity=args.sparsity,
        scope=args.scope,
        checkpoint=args.checkpoint,
        trust_checkpoint=args.trust_checkpoint,
        prune_first_conv=args.prune_first_conv,
        pretraining=args.pretraining,
        seed=args.seed,
        force=args.force,
    )
    result = draw_ticket(opts)
    print(f"wrote ticket {result.path}")
    print_ticket_summary(result.meta)
    return 0
