"""Prune to a speed target, measured: engine-aware per-layer sparsity against uniform sparsity.

For each batch size: the device's speed profile of the architecture (DeepSparse, INT8 in 1x4
blocks by default: the deployed form), then tickets drawn to each --targets speedup over the
dense model of that form (`prune --target-speedup`), and the uniform per-layer tickets
(--uniform, the product's previous default), all of one random init (untrained: speed only),
quantized to INT8 (random calibration: speed only) and timed in one bench run against the
dense model in FP32 and INT8 on every engine. Reports, per ticket: total sparsity, predicted
and measured speedup over the dense model of its form on DeepSparse (the prediction error),
and the measured speedup over the fastest dense peer of the run.

    .venv/bin/python benchmarks/speed_target.py [--quick] [--arch resnet50] [--batch-sizes 1,64]

Profiles are kept under --out (reused when their key matches: same model, engine version,
batch, cores, CPU, ISA, precision, block). Measure on a quiet machine. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from quantized_speedup import _floats, _ints  # this folder's list parsers

HEADERS = ["ticket", "batch", "sparsity", "predicted", "measured over dense (DeepSparse)", "error",
           "measured over fastest dense peer", "fastest dense peer"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--quick", action="store_true", help="short timings (a smoke run, not figures to quote)")
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--batch-sizes", type=_ints, default=(1, 64))
    parser.add_argument("--targets", type=_floats, default=(1.5, 2.0, 3.0), help="speedups (see --over)")
    parser.add_argument("--over", default="dense", choices=("dense", "best-peer"),
                        help="--targets over the dense model of the form, or over the fastest dense peer (measured first)")
    parser.add_argument("--uniform", type=_floats, default=(0.9,), help="uniform per-layer sparsities to compare")
    parser.add_argument("--grid", type=_floats, default=(0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99))
    parser.add_argument("--precision", default="int8", choices=("fp32", "int8"))
    parser.add_argument("--block", type=int, default=4, choices=(1, 4))
    parser.add_argument("--cores", type=int, default=None)
    parser.add_argument("--engines", default="deepsparse,onnxruntime,openvino")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time", type=float, default=3.0, help="timed seconds per configuration and repeat")
    args = parser.parse_args()

    from edge_transfer.bench import BenchOptions, run_bench
    from edge_transfer.bench.report import write_json
    from edge_transfer.tables import markdown_table, text_table

    timing = dict(time_s=0.3, warmup_s=0.1, min_iterations=3, repeats=1) if args.quick else \
        dict(time_s=args.time, warmup_s=1.0, min_iterations=5, repeats=args.repeats)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    args.out.mkdir(parents=True, exist_ok=True)
    rows, results = [], {}
    for batch in args.batch_sizes:
        with tempfile.TemporaryDirectory() as tmp:
            targets, sparsity_of = _targets(Path(tmp), args, batch, log)
            opts = BenchOptions(engines=tuple(args.engines.split(",")), batch_sizes=(batch,), cores=args.cores,
                                memory=False, int8_peers=False, **timing)
            result = run_bench(opts, log=log, argv=sys.argv, targets=targets)
        results[batch] = result
        rows += _rows(result.records, sparsity_of, batch)
    print(text_table(HEADERS, rows))
    name = (f"speed_target_{args.arch}_{args.precision}_block{args.block}_b{'-'.join(map(str, args.batch_sizes))}"
            + ("_quick" if args.quick else ""))
    for batch, result in results.items():
        write_json(args.out / f"{name}.bench_b{batch}.json", result)
    system = next(iter(results.values())).system
    (args.out / f"{name}.md").write_text(
        f"# Speed targets: {args.arch} {args.precision} block {args.block}\n\n"
        f"{system['cpu_model']}, {system['cores']} cores; untrained weights: speed only; "
        f"command: `{' '.join(sys.argv)}`\n\n" + markdown_table(HEADERS, rows) + "\n")
    print(f"wrote {args.out / (name + '.md')}")
    return 0


def _targets(tmp: Path, args, batch: int, log):
    """The dense models and every ticket (uniform and speed-target), INT8 where asked, as bench targets."""
    from edge_transfer.bench.made import speed_only_tickets
    from edge_transfer.bench.targets import BenchModel, BenchTarget, manifest_model
    from edge_transfer.export import ExportOptions, export_ticket
    from edge_transfer.prune import PruneOptions, draw_ticket
    from edge_transfer.quantize import QuantizeOptions, quantize
    from edge_transfer.ticket import load_ticket_meta

    tickets = speed_only_tickets(tmp, args.arch, (0.0, *args.uniform), log, block=args.block)
    profile_path = measured_profile(tickets[0.0], args.out, args.arch, args.precision, args.block, batch, args.cores,
                                    args.grid, args.quick, log)
    peer = None
    if args.over == "best-peer":  # measured once, for every target
        from edge_transfer.speed import SpeedProfile
        from edge_transfer.speed.peers import fastest_dense_peer

        peer = fastest_dense_peer(SpeedProfile.read(profile_path).key, log)
    for target in args.targets:
        folder = tmp / "tickets" / f"{args.arch}-target{target:g}x-b{batch}"
        try:
            draw_ticket(PruneOptions(arch=args.arch, output=folder, target_speedup=target, profile=profile_path,
                                     block=args.block, scope="layer", over=args.over, peer=peer), log=log)
        except ValueError as exc:  # an unreachable target: said, and skipped
            log(f"target {target:g}x: {exc}")
            continue
        tickets[f"{target:g}x"] = folder
    models, sparsity_of = {}, {}
    for key, folder in tickets.items():
        out = tmp / "exports" / folder.name
        export_ticket(ExportOptions(ticket=folder, output=out, validate_engines=()))
        fp32 = manifest_model(out, "model.onnx", None)
        if args.precision == "int8":
            q = tmp / "int8" / folder.name
            quantize(QuantizeOptions(source=folder, output=q, calibration="random", samples=64, with_dense=False,
                                     validate_engines=(), progress=False))
            models[key] = (fp32, manifest_model(q, "model.onnx", None))
        else:
            models[key] = (fp32, fp32)
        sparsity_of[models[key][1].name] = load_ticket_meta(folder).achieved_sparsity

    def as_dense(m: BenchModel) -> BenchModel:
        return BenchModel(**{**m.__dict__, "name": f"{args.arch}-dense" + ("-int8" if m.precision == "int8" else ""),
                             "variant": "dense", "ideal_speedup": 1.0})

    dense_fp32, dense_form = (as_dense(m) for m in models.pop(0.0))
    peers = (dense_form,) if dense_form is not dense_fp32 and args.precision == "int8" else ()
    return [BenchTarget(form, dense_fp32, peers) for _, form in models.values()], sparsity_of


def measured_profile(model: Path, out: Path, arch: str, precision: str, block: int, batch: int, cores, grid,
                     quick: bool, log) -> Path:
    """The device's profile of ``model`` under --out (reused when its key matches), its first
    lines printed and its plot written beside it; returns the profile's path."""
    from edge_transfer.speed.profile import ProfileOptions, measure_profile
    from edge_transfer.speed.report import plot_profile, profile_lines

    path = out / f"profile_{arch}_{precision}_block{block}_b{batch}.json"
    profile = measure_profile(ProfileOptions(model=model, output=path, batch_size=batch, cores=cores,
                                             precision=precision, block=block, grid=grid,
                                             time_s=0.5 if quick else 2.0, iterations=5 if quick else 20), log=log)
    print("\n".join(profile_lines(profile)), file=sys.stderr)
    plot_profile(profile, path.with_suffix(".png"))
    return path


def _rows(records: list[dict], sparsity_of: dict, batch: int) -> list[list]:
    rows = []
    for r in records:
        if r["variant"] == "dense" or r["engine"] != "deepsparse":
            continue
        own = r.get("speedup_vs_own_precision_dense")
        rows.append([r["model"], batch, f"{sparsity_of.get(r['model'], r['sparsity'] or 0):.1%}",
                     f"{r['predicted_speedup']:.2f}x" if r.get("predicted_speedup") else "-",
                     f"{own:.2f}x" if own else "-",
                     f"{r['prediction_error']:+.0%}" if r.get("prediction_error") is not None else "-",
                     f"{r['speedup_vs_best_dense']:.2f}x [{r['speedup_vs_best_dense_min']:.2f}-"
                     f"{r['speedup_vs_best_dense_max']:.2f}]" if r.get("speedup_vs_best_dense") else "-",
                     r.get("best_dense_peer") or "-"])
    return rows


if __name__ == "__main__":
    sys.exit(main())
