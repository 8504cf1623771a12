"""Reproduce the sparse-speedup table of "How Well Do Sparse ImageNet Models Transfer?" on
this machine: OMP tickets (untrained weights: speed only, drawn per layer) of resnet50
(224 px) and resnet18-cifar (32 px) at 0/0.8/0.9/0.95/0.98 sparsity, batch 1/16/64,
on DeepSparse, ONNX Runtime and PyTorch, every configuration repeated.

    .venv/bin/python benchmarks/sparse_speedup.py [--quick] [--out benchmarks/results]

Writes ``sparse_speedup.json`` (edge-transfer.bench/1), ``sparse_speedup.png`` and
``sparse_speedup.md`` (the table and the machine it was measured on). Prints figures;
asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

SPARSITIES = (0.8, 0.9, 0.95, 0.98)
ARCHS = ("resnet50", "resnet18-cifar")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--quick", action="store_true", help="short timings (a smoke run, not figures to quote)")
    parser.add_argument("--archs", default=",".join(ARCHS))
    parser.add_argument("--engines", default="deepsparse,onnxruntime,torch")
    parser.add_argument("--batch-sizes", default="1,16,64")
    args = parser.parse_args()

    from edge_transfer.bench import BenchOptions, run_bench
    from edge_transfer.bench.report import markdown, plot, table_rows, TABLE_HEADERS, write_json
    from edge_transfer.bench.made import default_targets
    from edge_transfer.fileio import atomic_write_text
    from edge_transfer.tables import text_table

    timing = dict(time_s=0.2, warmup_s=0.1, min_iterations=2, repeats=1) if args.quick else \
        dict(time_s=3.0, warmup_s=1.0, min_iterations=5, repeats=3)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        targets = []
        log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        for arch in args.archs.split(","):
            targets += default_targets(workdir / arch, "model.onnx", log, arch=arch, sparsities=SPARSITIES, int8=False)
        opts = BenchOptions(engines=tuple(args.engines.split(",")), int8_peers=False,
                            batch_sizes=tuple(int(b) for b in args.batch_sizes.split(",")), memory=False, **timing)
        result = run_bench(opts, log=log, argv=sys.argv, targets=targets)
    print(text_table(TABLE_HEADERS, table_rows(result.records)))
    write_json(args.out / "sparse_speedup.json", result)
    plot(args.out / "sparse_speedup.png", result.records)
    atomic_write_text(args.out / "sparse_speedup.md", markdown(result))
    print(f"wrote {args.out}/sparse_speedup.{{json,png,md}} in {result.seconds:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
