"""``edge-transfer export``: ticket -> ONNX (classifier + backbone), validated."""

from __future__ import annotations

from pathlib import Path

from ..export import ExportOptions, OPSETS, export_ticket
from ..formats import DENSE_DIR, ExportManifest, MANIFEST_FILE
from ..tables import text_table
from . import _args


def add_arguments(parser) -> None:
    d = _args.defaults(ExportOptions)
    parser.add_argument("ticket", type=_args.input_path, help="ticket folder from `edge-transfer prune`")
    parser.add_argument("--output", type=_args.output_folder, required=True, help="export folder to create")
    g = parser.add_argument_group("graph")
    g.add_argument("--batch-size", type=_args.batch_size_or_dynamic, default=d["batch_size"], metavar="N|dynamic",
                   help="static batch size, or 'dynamic' (default)")
    g.add_argument("--opset", type=int, default=d["opset"],
                   help=f"ONNX opset ({OPSETS.start}-{OPSETS.stop - 1}, default {d['opset']})")
    g.add_argument("--with-dense", action="store_true", help="also export the dense baseline to OUTPUT/dense/")
    g = parser.add_argument_group("validation")
    g.add_argument("--validate-engines", type=_args.name_list, default=d["validate_engines"],
                   help=f"engines compared with PyTorch (default {','.join(d['validate_engines'])})")
    g.add_argument("--seed", type=int, default=d["seed"], help=f"seed of the validation inputs (default {d['seed']})")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")


def print_validation(manifest) -> None:
    v = manifest.validation
    rows = [
        [p["graph"], p["engine"], p["batch_size"], f"{p['max_abs_diff']:.2e}", f"{p['max_rel_diff']:.2e}",
         f"{p['tolerance']:.0e}", "ok" if p["passed"] else "FAIL"]
        for p in v["parity"]
    ]
    print(text_table(["graph", "engine", "batch", "max abs diff", "max rel diff", "tolerance", "parity"], rows))
    for graph in sorted({a["graph"] for a in v["audit"]}):
        audit = [a for a in v["audit"] if a["graph"] == graph]
        print(
            f"sparsity audit {graph}: {len(audit)} pruned layers, ticket zeros {sum(a['ticket_zeros'] for a in audit):,}, "
            f"ONNX zeros {sum(a['onnx_zeros'] for a in audit):,}, lost {sum(a['lost'] for a in audit)}, "
            f"gained {sum(a['gained'] for a in audit)}"
        )


def run(args) -> int:
    opts = _args.options_from(ExportOptions, args)
    result = export_ticket(opts, log=print)
    print_validation(result.manifest)
    if args.with_dense:
        print_validation(ExportManifest.read(result.path / DENSE_DIR / MANIFEST_FILE))
    print(f"wrote {result.path}/ (model.onnx, backbone.onnx, {MANIFEST_FILE}{', dense/' if args.with_dense else ''})")
    return 0
