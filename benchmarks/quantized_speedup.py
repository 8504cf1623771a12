"""Sparse INT8 tickets against every dense model a user could deploy instead, on this machine.

OMP tickets (untrained weights: speed only, drawn per layer from one random init) of
resnet50 (224 px) and resnet18-cifar (32 px) at 0.8/0.9/0.95, unstructured and 1x4 blocks,
FP32 and INT8 (calibrated on 64 images of embedded:mnist-5to9), at batch 1/16/64, on every
engine that runs them, against the dense model of the same init in FP32 and INT8 on every
engine, all in one run with the same pinned cores and shuffled repeats.

    .venv/bin/python benchmarks/quantized_speedup.py [--quick] [--archs resnet50] [--sparsities 0.9]

Writes ``quantized_speedup.{json,md,png}`` under --out. The headline is each ticket's best
engine over the fastest dense peer of the run; the FLOP-proportional limit is the ticket's
ideal speedup over the same model dense (conv + linear MACs). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ARCHS = ("resnet50", "resnet18-cifar")
SPARSITIES = (0.8, 0.9, 0.95)
BLOCKS = (1, 4)
SUMMARY_HEADERS = ["ticket", "prec.", "batch", "best engine", "items/s", "fastest dense peer", "peer items/s",
                   "speedup over it [min-max]", "FLOP limit"]


def summary_rows(records: list[dict]) -> list[list]:
    from edge_transfer.bench.report import headline, headline_rows

    return [row + [f"{r['ideal_speedup']:.1f}x" if r["ideal_speedup"] else "-"]
            for row, r in zip(headline_rows(records), headline(records))]


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(","))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(","))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--quick", action="store_true", help="short timings (a smoke run, not figures to quote)")
    parser.add_argument("--archs", default=",".join(ARCHS))
    parser.add_argument("--sparsities", type=_floats, default=SPARSITIES)
    parser.add_argument("--blocks", type=_ints, default=BLOCKS)
    parser.add_argument("--engines", default="deepsparse,onnxruntime,openvino,torch")
    parser.add_argument("--batch-sizes", type=_ints, default=(1, 16, 64))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time", type=float, default=3.0, help="timed seconds per configuration and repeat")
    args = parser.parse_args()

    from edge_transfer.bench import BenchOptions, run_bench
    from edge_transfer.bench.report import markdown, plot, write_json
    from edge_transfer.bench.made import default_targets
    from edge_transfer.fileio import atomic_write_text
    from edge_transfer.system import system_info
    from edge_transfer.tables import markdown_table, text_table

    timing = dict(time_s=0.2, warmup_s=0.1, min_iterations=2, repeats=1) if args.quick else \
        dict(time_s=args.time, warmup_s=1.0, min_iterations=5, repeats=args.repeats)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        targets = []
        for arch in args.archs.split(","):
            for block in args.blocks:
                # One workdir per arch: the dense model (and its INT8 form) is shared by both block layouts.
                targets += default_targets(Path(tmp) / arch, "model.onnx", log, arch=arch, sparsities=args.sparsities,
                                           block=block)
        opts = BenchOptions(engines=tuple(args.engines.split(",")), batch_sizes=args.batch_sizes, memory=False,
                            int8_peers=False, **timing)
        result = run_bench(opts, log=log, argv=sys.argv, targets=targets)
    rows = summary_rows(result.records)
    print(text_table(SUMMARY_HEADERS, rows))
    isa = system_info().get("isa")
    write_json(args.out / "quantized_speedup.json", result)
    plot(args.out / "quantized_speedup.png", result.records)
    atomic_write_text(args.out / "quantized_speedup.md",
                      f"# Sparse INT8 tickets vs the fastest dense peer\n\nISA {isa}.\n\n"
                      + markdown_table(SUMMARY_HEADERS, rows) + "\n\n" + markdown(result))
    print(f"wrote {args.out}/quantized_speedup.{{json,png,md}} in {result.seconds:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
