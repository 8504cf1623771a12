"""``edge-transfer bench``: time tickets against every dense peer on DeepSparse, ONNX Runtime, OpenVINO, PyTorch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..bench import BenchOptions, BenchOptions as B, SCENARIOS, run_bench
from ..bench.fleet import run_fleet_bench
from ..bench.fleet_report import fleet_markdown, fleet_plot, fleet_text
from ..bench.report import (HEADLINE_HEADERS, TABLE_HEADERS, compare, footnotes, headline_rows, markdown, plot,
                            table_rows, write_csv, write_json)
from ..errors import OptionError
from ..fileio import atomic_write_text, write_json as write_json_file
from ..tables import text_table
from . import _args


def _int_list(text: str) -> tuple[int, ...]:
    return tuple(_args.positive_int(x) for x in _args.name_list(text))


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like 3x224x224, got {text!r}") from None
    if len(dims) != 3 or min(dims) <= 0:
        raise argparse.ArgumentTypeError(f"must be CxHxW with positive sizes, e.g. 3x224x224, got {text!r}")
    return dims


def add_arguments(parser) -> None:
    d = _args.defaults(B)
    parser.add_argument("paths", type=_args.input_path, nargs="*", metavar="PATH",
                        help="export folder, INT8 folder (edge-transfer quantize), ticket folder or .onnx file; none: resnet50 "
                             "OMP 0/0.8/0.9/0.95, FP32 and INT8 (untrained)")
    g = parser.add_argument_group("what to run")
    g.add_argument("--engine", type=_args.name_list, default=d["engines"], help=f"engines (default {','.join(d['engines'])})")
    g.add_argument("--ticket-engines", type=_args.name_list, default=d["ticket_engines"],
                   help="run tickets only on these of --engine, e.g. deepsparse (default: all; dense peers run on every engine)")
    g.add_argument("--batch-size", type=_int_list, default=d["batch_sizes"],
                   help=f"comma-separated batch sizes (default {','.join(map(str, d['batch_sizes']))})")
    g.add_argument("--cores", type=_args.positive_int, help="cores for every engine (default: all physical cores)")
    g.add_argument("--scenario", choices=SCENARIOS, default=d["scenario"], help="one request at a time, or --streams concurrent")
    g.add_argument("--streams", type=_args.positive_int, help="concurrent requests in async (default: cores)")
    g.add_argument("--baseline", type=_args.input_spec, default="dense", help="'dense' (each export's dense/) or a PATH used for every target")
    g.add_argument("--input-shape", type=_shape, help="CxHxW for graphs with dynamic dims")
    g.add_argument("--no-int8-peers", action="store_true",
                   help="do not quantize a dense INT8 peer where the run has none (it is timed by default)")
    g = parser.add_argument_group("measurement")
    g.add_argument("--time", type=_args.positive_float, default=d["time_s"],
                   help=f"seconds of timed iterations per configuration (default {d['time_s']:g})")
    g.add_argument("--warmup", type=_args.non_negative_float, default=d["warmup_s"], help=f"seconds of warm-up (default {d['warmup_s']:g})")
    g.add_argument("--min-iterations", type=_args.positive_int, default=d["min_iterations"],
                   help=f"at least this many timed iterations (default {d['min_iterations']})")
    g.add_argument("--repeats", type=_args.positive_int, default=d["repeats"],
                   help=f"repeat every configuration, shuffled (default {d['repeats']})")
    g.add_argument("--allow-mismatch", action="store_true", help="exit 0 even if an engine's outputs are off")
    g.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    g.add_argument("--native-check", action="store_true", help="also run DeepSparse's Engine.benchmark to check this harness")
    g.add_argument("--seed", type=int, default=d["seed"])
    g = parser.add_argument_group("fleet (dask)")
    g.add_argument("--cluster", metavar="ADDRESS|local:N",
                   help="run the same bench once on every worker of a dask cluster (workers need --resources bench=1)")
    g.add_argument("--workers", type=_args.name_list, metavar="A,B",
                   help="only these workers (addresses or host names) of --cluster")
    g = parser.add_argument_group("output")
    g.add_argument("--json", type=_args.output_file, metavar="OUT.json")
    g.add_argument("--csv", type=_args.output_file, metavar="OUT.csv")
    g.add_argument("--markdown", type=_args.output_file, metavar="OUT.md")
    g.add_argument("--plot", type=_args.output_file, metavar="OUT.png")
    g.add_argument("--compare", type=_args.input_path, nargs=2, metavar=("A.json", "B.json"), help="print B/A per row of two runs and exit")
    g.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args) -> int:
    if args.compare:
        print(text_table(*compare(*args.compare)))
        return 0

    opts = _args.options_from(
        BenchOptions, args, paths=tuple(args.paths), batch_sizes=args.batch_size, engines=args.engine,
        time_s=args.time, warmup_s=args.warmup, baseline=args.baseline if args.baseline == "dense" else Path(args.baseline),
        memory=not args.no_memory, int8_peers=not args.no_int8_peers)
    log = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    if args.workers and args.cluster is None:
        raise OptionError("--workers selects workers of --cluster; give --cluster ADDRESS too")
    if args.cluster is not None:  # '' (an unset variable) is refused by the parser, not run locally
        return _fleet(opts, args, log)
    result = run_bench(opts, log=log, argv=["edge-transfer", *sys.argv[1:]])
    print(text_table(TABLE_HEADERS, table_rows(result.records)))
    print()
    print("Headline: speedup over the fastest dense peer of this run")
    print(text_table(HEADLINE_HEADERS, headline_rows(result.records)))
    print("\n".join(footnotes(result)))
    if args.json:
        write_json(args.json, result)
    if args.csv:
        write_csv(args.csv, result.records)
    if args.markdown:
        atomic_write_text(args.markdown, markdown(result))
    if args.plot:
        plot(args.plot, result.records)
    if result.invalid and not args.allow_mismatch:
        rows = ", ".join(f"{r['engine']} {r['model']} b{r['batch_size']} ({r['max_rel_diff']:.1e})" for r in result.invalid)
        print(f"edge-transfer bench: error: outputs differ from the {result.invalid[0]['reference']} reference past "
              f"{opts.tolerance:.0e} for {rows}; results are marked INVALID (pass --allow-mismatch to exit 0)", file=sys.stderr)
        return 1
    return 0


def _fleet(opts, args, log) -> int:
    if args.csv:
        raise OptionError("--csv is not written for a fleet bench; use --json (every record has its host) or --markdown")
    fleet = run_fleet_bench(opts, args.cluster, args.workers, log=log, argv=["edge-transfer", *sys.argv[1:]])
    print(fleet_text(fleet))
    if args.json:
        write_json_file(args.json, fleet)
    if args.markdown:
        atomic_write_text(args.markdown, fleet_markdown(fleet))
    if args.plot:
        fleet_plot(args.plot, fleet)
    return 0
