"""Batch 1 on DeepSparse: one core or two, and where the stem's time goes.

resnet50 (224 px, untrained: speed only) dense and 90% sparse in 1x4 blocks, both INT8 in
DeepSparse's form (calibrated on random inputs: speed only). Each is compiled for 1 and for
--cores cores and timed in alternating rounds (the order flips every round, so drift on a
shared machine hits both alike); the figure is the median per-round ratio. Then DeepSparse's
own per-layer analysis of each model at batch 1 says which unit runs the stem (conv1) and
what that unit costs, with and without quantization (the FP32 graph against the INT8 one).

    .venv/bin/python benchmarks/batch1_cores.py [--quick] [--cores 2]

Measure on a quiet machine. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--arch", default="resnet50")
    args = parser.parse_args()
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        graphs = _graphs(Path(tmp), args.arch, log)
        iterations = 10 if args.quick else 100
        rounds = 3 if args.quick else args.rounds
        for name, (fp32, int8) in graphs.items():
            ms = _one_vs_many(int8, args.cores, rounds, iterations)
            print(f"{name} INT8 batch 1: 1 core {ms[1]:.2f} ms, {args.cores} cores {ms[args.cores]:.2f} ms; "
                  f"{args.cores} cores run {ms['ratio']:.2f}x the speed of 1 [{ms['min']:.2f}-{ms['max']:.2f}] "
                  f"(median of {rounds} alternating rounds of {iterations} inferences)")
        for name, (fp32, int8) in graphs.items():
            for precision, graph in (("fp32", fp32), ("int8", int8)):
                print(f"{name} {precision} batch 1 on {args.cores} cores: " + _stem_unit(graph, args.cores))
    return 0


def _graphs(tmp: Path, arch: str, log) -> dict:
    """{name: (FP32 graph, INT8 DeepSparse-form graph)} of the dense model and the 90% 1x4 ticket."""
    from edge_transfer.bench.made import speed_only_tickets
    from edge_transfer.export import ExportOptions, export_ticket
    from edge_transfer.quantize import QuantizeOptions, quantize
    from edge_transfer.quantize.images import RANDOM_CALIBRATION
    from edge_transfer.quantize.quantize import FORM_FILES

    out = {}
    for key, folder in speed_only_tickets(tmp, arch, (0.0, 0.9), log, block=4).items():
        exported = export_ticket(ExportOptions(ticket=folder, output=tmp / "fp32" / folder.name, validate_engines=()))
        q = quantize(QuantizeOptions(source=folder, output=tmp / "int8" / folder.name, calibration=RANDOM_CALIBRATION,
                                     samples=32, with_dense=False, validate_engines=(), progress=False))
        out["dense" if key == 0.0 else "omp90-block4"] = (exported.path / "model.onnx",
                                                          q.path / FORM_FILES["deepsparse"]["model"])
    return out


def _one_vs_many(graph: Path, cores: int, rounds: int, iterations: int) -> dict:
    import numpy as np

    from edge_transfer.engines import get_engine

    engine = get_engine("deepsparse")
    x = [np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)]
    compiled = {n: engine.compile(graph, 1, n) for n in (1, cores)}
    for c in compiled.values():
        for _ in range(10):
            c.run(x)
    times, ratios = {1: [], cores: []}, []
    for r in range(rounds):
        pair = {}
        for n in ((1, cores) if r % 2 == 0 else (cores, 1)):
            t0 = time.perf_counter()
            for _ in range(iterations):
                compiled[n].run(x)
            pair[n] = (time.perf_counter() - t0) / iterations
            times[n].append(pair[n])
        ratios.append(pair[1] / pair[cores])
    return {1: 1e3 * statistics.median(times[1]), cores: 1e3 * statistics.median(times[cores]),
            "ratio": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def _stem_unit(graph: Path, cores: int) -> str:
    """The analysis unit that computes the stem convolution, its time and what else it holds."""
    import numpy as np

    from edge_transfer.engines import get_engine
    from edge_transfer.speed.profile import _layer_of_output

    x = [np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)]
    analysis = get_engine("deepsparse").analyze_layers(graph, 1, cores, x, iterations=20)
    owners = _layer_of_output(graph, {"conv1.weight", "layer1.0.conv1.weight", "layer1.2.conv3.weight",
                                      "layer2.0.conv1.weight"})
    units = analysis["units"]
    stem = next((u for u in units if any("conv1.weight" in owners.get(out, ()) for out in u["outputs"])), None)
    unit, which = (stem, "the stem's unit") if stem else (units[0], "the first unit (no unit names the stem's output)")
    layers = sorted({layer for out in unit["outputs"] for layer in owners.get(out, ())})
    return (f"{which}: {unit['name']}, {len(unit['outputs'])} outputs (of conv1, layer1.0.conv1, layer1.2.conv3, "
            f"layer2.0.conv1 it holds: {', '.join(layers) or 'none'}), {unit['ms']:.2f} of {analysis['total_ms']:.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
