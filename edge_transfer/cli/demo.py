"""``edge-transfer demo``: pretrain, draw, export, benchmark against the dense peers, adapt; write a report."""

from __future__ import annotations

from pathlib import Path

from ..adapt.report import summary_lines
from ..bench.report import HEADLINE_HEADERS, headline_rows
from ..demo import DemoOptions, run_demo, summary_table
from ..tables import text_table, ticket_layer_table, ticket_summary_lines
from . import _args


def _defaults() -> dict:
    return _args.defaults(DemoOptions)


def _csv(values) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def add_arguments(parser) -> None:
    d = _defaults()
    parser.add_argument("--output", type=_args.output_folder, default=d["output"], help=f"report folder, replaced on each run (default {d['output']})")
    parser.add_argument("--archs", type=_args.name_list, default=d["archs"], help=f"architectures (default {_csv(d['archs'])})")
    parser.add_argument("--sparsities", type=_args.sparsity_list, default=d["sparsities"],
                        help=f"OMP sparsities (default {_csv(d['sparsities'])})")
    parser.add_argument("--pretrain-epochs", type=_args.non_negative_int, default=d["pretrain_epochs"],
                        help=f"epochs of pretraining {_csv(d['pretrain_archs'])} on {d['source_data']} "
                             f"(0: every ticket untrained; default {d['pretrain_epochs']})")
    parser.add_argument("--no-bench", action="store_true", help="skip the measured tickets-vs-dense-peers table")
    parser.add_argument("--bench-arch", default=d["bench_arch"], help=f"architecture benchmarked (default {d['bench_arch']})")
    parser.add_argument("--bench-sparsities", type=_args.sparsity_list, default=d["bench_sparsities"],
                        help=f"sparsities benchmarked, FP32 and INT8 (default {_csv(d['bench_sparsities'])})")
    parser.add_argument("--bench-time", type=_args.positive_float, default=d["bench_time_s"],
                        help=f"timed seconds per configuration (default {d['bench_time_s']:g})")
    parser.add_argument("--speed-target", type=_args.non_negative_float, default=d["speed_target"],
                        help=f"also draw a ticket pruned to this predicted speedup over the dense INT8 model at batch "
                             f"{d['speed_target_batch']}, from a profile of this machine (0: none; default "
                             f"{d['speed_target']:g})")
    parser.add_argument("--adapt-epochs", type=_args.non_negative_int, default=d["adapt_epochs"],
                        help=f"epochs of the online-learning demo (0 skips it; default {d['adapt_epochs']})")
    parser.add_argument("--no-deploy", action="store_true", help="skip deploying the adapted ticket and `predict`")
    parser.add_argument("--study", action="store_true", help="also run the natural-vs-robust quick study (about 5 minutes)")
    parser.add_argument("--study-output", type=Path, default=d["study_output"],
                        help=f"folder of the quick study, kept between runs as its cache (default {d['study_output']})")


def run(args) -> int:
    opts = _args.options_from(DemoOptions, args, bench=not args.no_bench, bench_time_s=args.bench_time,
                              deploy=not args.no_deploy, speed_target=args.speed_target or None)
    result = run_demo(opts)
    for tag, meta in result.metas.items():
        print(f"\n== {tag}")
        if meta.target_sparsity == 0.9 and meta.block == 1:
            print(text_table(*ticket_layer_table(meta)))
        print("\n".join(ticket_summary_lines(meta)))
    headers, rows = summary_table(result.rows, opts.validate_engines)
    print()
    print(text_table(headers, rows))
    if result.adapt:
        print("\nonline learning (embedded target task, DeepSparse):")
        print("\n".join(summary_lines(result.adapt)))
    if result.deployed:
        v = result.deployed["validation"]
        t = v["timing"]
        print(f"\ndeployed artifact ({result.deployed['path']}): val top-1 {v['val']['top1']:.4f} (run "
              f"{v['val']['reference_top1']:.4f}, agreement {v['val']['agreement']:.2%}); batch-1 p50 "
              f"{t['sparse']['latency_ms_p50']:.2f} ms vs dense {t['dense']['latency_ms_p50']:.2f} ms "
              f"({t['speedup_p50']:.2f}x); batch-64 throughput {t['batch_64']['speedup']:.2f}x")
    if result.study:
        print("\nnatural vs robust tickets (study --quick at 90% sparsity):")
        print("\n".join(result.study["headline"]))
    if result.bench is not None:
        print(f"\nmeasured: {opts.bench_arch} tickets vs the fastest dense peer of the same run (short timings)")
        print(text_table(HEADLINE_HEADERS, headline_rows(result.bench.records)))
    print(f"\ndemo finished in {result.seconds:.0f}s; report: {result.path / 'report.md'}")
    return 0
