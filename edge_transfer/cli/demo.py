"""``edge-transfer demo``: draw, export and validate the demo tickets; write a report."""

from __future__ import annotations

from pathlib import Path

from . import _args


def add_arguments(parser) -> None:
    parser.add_argument("--output", type=Path, default=Path("export/demo"), help="report folder, replaced on each run (default export/demo)")
    parser.add_argument("--archs", type=_args.name_list, default=("resnet50", "resnet18-cifar"), help="architectures (default resnet50,resnet18-cifar)")
    parser.add_argument("--sparsities", type=_args.name_list, default=("0", "0.8", "0.9", "0.95"), help="OMP sparsities (default 0,0.8,0.9,0.95)")
    parser.add_argument("--adapt-epochs", type=int, default=5, help="epochs of the online-learning demo (0 skips it; default 5)")
    parser.add_argument("--no-study", action="store_true", help="skip the natural-vs-robust quick study headline")
    parser.add_argument("--study-output", type=Path, default=Path("export/demo-study"),
                        help="folder of the quick study, kept between runs as its cache (default export/demo-study)")


def run(args) -> int:
    from ..backbones import get_backbone_cfg
    from ..demo import DemoOptions, run_demo, summary_table
    from ..tables import text_table, ticket_layer_table, ticket_summary_lines

    for arch in args.archs:
        get_backbone_cfg(arch)
    sparsities = tuple(_args.sparsity(s) for s in args.sparsities)
    opts = DemoOptions(output=args.output, archs=tuple(args.archs), sparsities=sparsities, adapt_epochs=args.adapt_epochs,
                       study=not args.no_study, study_output=args.study_output)
    result = run_demo(opts)
    for tag, meta in result.metas.items():
        print(f"\n== {tag}")
        if meta["target_sparsity"] == 0.9:
            print(text_table(*ticket_layer_table(meta)))
        print("\n".join(ticket_summary_lines(meta)))
    headers, rows = summary_table(result.rows, opts.validate_engines)
    print()
    print(text_table(headers, rows))
    if result.adapt:
        from ..adapt.report import summary_lines

        print("\nonline learning (embedded target task, DeepSparse):")
        print("\n".join(summary_lines(result.adapt)))
    if result.study:
        print("\nnatural vs robust tickets (study --quick at 90% sparsity):")
        print("\n".join(result.study["headline"]))
    print(f"\ndemo finished in {result.seconds:.0f}s; report: {result.path / 'report.md'}")
    return 0
