"""Accuracy against measured speed on a trained model: speed-target tickets against uniform ones.

The demo's trained source (resnet18-cifar pretrained on embedded:mnist-0to4 at 16 px) is
profiled on this machine (DeepSparse, INT8 in 1x4 blocks, --batch-size), then pruned two ways:
uniform per-layer sparsity (--uniform, the product's default) and `prune --target-speedup`
(--targets, each layer's sparsity from the profile and the measured loss increase of pruning
it alone on the source task). Every ticket is quantized to INT8 (calibrated on the source
task), timed in one bench run against the dense model in FP32 and INT8 on every engine, and
transferred to embedded:mnist-5to9 with the same budget: the converged linear probe (L-BFGS)
on its frozen features (FP32 backbone). Prints, per ticket: sparsity, predicted and measured
speedup over the dense INT8 model, speedup over the fastest dense peer, and target-task top-1;
then each speed-target ticket's top-1 against the uniform frontier's at its measured speed
(linear interpolation between the two uniform tickets that bracket it). Writes a table, JSON
and the frontier plot under --out.

    .venv/bin/python benchmarks/speed_frontier.py [--quick] [--batch-size 1]

Measure on a quiet machine. One source seed and one probe per ticket: the accuracy gaps
carry no error bars; read them as one draw.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from quantized_speedup import _floats  # this folder's list parser
from speed_target import measured_profile

ARCH, SIZE, SOURCE, TARGET = "resnet18-cifar", 16, "embedded:mnist-0to4", "embedded:mnist-5to9"
HEADERS = ["ticket", "sparsity", "predicted", "measured over dense INT8", "measured over fastest dense peer",
           "latency ms", "target top-1"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--quick", action="store_true", help="short timings (a smoke run, not figures to quote)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--uniform", type=_floats, default=(0.5, 0.8, 0.9, 0.95, 0.98))
    parser.add_argument("--targets", type=_floats, default=(1.25, 1.5, 1.75, 2.0))
    parser.add_argument("--grid", type=_floats, default=(0.0, 0.5, 0.8, 0.9, 0.95, 0.98))
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--time", type=float, default=2.0, help="timed seconds per configuration and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from edge_transfer.bench import BenchOptions, run_bench
    from edge_transfer.bench.report import write_json
    from edge_transfer.tables import markdown_table, text_table

    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"speed_frontier_{ARCH}_int8_block4_b{args.batch_size}" + ("_quick" if args.quick else "")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = _pretrain(tmp, args.pretrain_epochs, log)
        tickets, profile = _tickets(tmp, checkpoint, args, log)
        targets, meta_of = _bench_targets(tmp, tickets, log)
        timing = dict(time_s=0.3, warmup_s=0.1, min_iterations=3, repeats=1) if args.quick else \
            dict(time_s=args.time, warmup_s=1.0, min_iterations=5, repeats=args.repeats)
        result = run_bench(BenchOptions(engines=("deepsparse", "onnxruntime", "openvino"), ticket_engines=("deepsparse",),
                                        batch_sizes=(args.batch_size,), memory=False, int8_peers=False, **timing),
                           log=log, argv=sys.argv, targets=targets)
        top1 = {key: _probe(folder, tmp, log) for key, folder in tickets.items()}
    rows, points = _rows(result.records, meta_of, top1)
    comparison = _at_equal_speed(points)
    print(text_table(HEADERS, rows))
    print("\n".join(comparison))
    write_json(args.out / f"{name}.bench.json", result)
    (args.out / f"{name}.json").write_text(json.dumps({"points": points, "comparison": comparison,
                                                       "profile_seconds": profile.seconds}, indent=2))
    _plot(points, args.out / f"{name}.png", args.batch_size)
    system = result.system
    (args.out / f"{name}.md").write_text(
        f"# Accuracy vs measured speed: {ARCH} INT8 1x4, batch {args.batch_size}\n\n"
        f"{system['cpu_model']}, {system['cores']} cores; source {SOURCE} ({args.pretrain_epochs} epochs, {SIZE} px), "
        f"target {TARGET} (converged linear probe, FP32 backbone); command: `{' '.join(sys.argv)}`\n\n"
        + markdown_table(HEADERS, rows) + "\n\n" + "\n".join(f"- {line}" for line in comparison)
        + f"\n\n![frontier]({name}.png)\n")
    print(f"wrote {args.out / (name + '.md')}")
    return 0


def _pretrain(tmp: Path, epochs: int, log) -> Path:
    from edge_transfer.pretrain import PretrainOptions, default_train_settings, pretrain
    from edge_transfer.train import TrainSettings

    d = default_train_settings()
    train = TrainSettings(data=SOURCE, epochs=epochs, lr=d.lr, weight_decay=d.weight_decay, image_size=SIZE,
                          progress=False)
    return pretrain(PretrainOptions(arch=ARCH, output=tmp / "source.pt", train=train), log=log).path


def _tickets(tmp: Path, checkpoint: Path, args, log) -> tuple[dict, object]:
    """{key: ticket folder}: the dense model (key 0.0), uniform tickets (their sparsity) and
    speed-target tickets ('target Nx'), all from ``checkpoint``."""
    from edge_transfer.prune import PruneOptions, draw_ticket
    from edge_transfer.speed import SpeedProfile
    from edge_transfer.train import TrainSettings

    common = dict(arch=ARCH, checkpoint=checkpoint, pretraining="natural", block=4, scope="layer")
    tickets = {}
    for s in (0.0, *args.uniform):
        tickets[s] = tmp / "tickets" / f"uniform{s:g}"
        draw_ticket(PruneOptions(output=tickets[s], sparsity=s, train=TrainSettings(image_size=SIZE),
                                 **{**common, "block": 4 if s else 1}))
    profile_path = measured_profile(tickets[0.0], args.out, ARCH, "int8", 4, args.batch_size, None, args.grid,
                                    args.quick, log)
    for t in args.targets:
        folder = tmp / "tickets" / f"target{t:g}x"
        try:  # sensitivity: the loss increase of pruning each unit alone, on the source task's validation split
            draw_ticket(PruneOptions(output=folder, target_speedup=t, profile=profile_path,
                                     train=TrainSettings(data=SOURCE, image_size=SIZE), **common), log=log)
        except ValueError as exc:
            log(f"target {t:g}x: {exc}")
            continue
        tickets[f"target {t:g}x"] = folder
    return tickets, SpeedProfile.read(profile_path)


def _bench_targets(tmp: Path, tickets: dict, log):
    from edge_transfer.bench.targets import BenchModel, BenchTarget, manifest_model
    from edge_transfer.export import ExportOptions, export_ticket
    from edge_transfer.quantize import QuantizeOptions, quantize
    from edge_transfer.ticket import load_ticket_meta

    models, meta_of = {}, {}
    for key, folder in tickets.items():
        out = tmp / "exports" / folder.name
        export_ticket(ExportOptions(ticket=folder, output=out, validate_engines=()))
        q = tmp / "int8" / folder.name
        log(f"quantizing {folder.name}")
        quantize(QuantizeOptions(source=folder, output=q, calibration=SOURCE, samples=128, with_dense=False,
                                 max_drop=100.0, validate_engines=(), progress=False))
        models[key] = (manifest_model(out, "model.onnx", None), manifest_model(q, "model.onnx", None))
        meta_of[models[key][1].name] = (key, load_ticket_meta(folder))

    def as_dense(m: BenchModel) -> BenchModel:
        return BenchModel(**{**m.__dict__, "name": f"{ARCH}-dense" + ("-int8" if m.precision == "int8" else ""),
                             "variant": "dense", "ideal_speedup": 1.0})

    dense_fp32, dense_int8 = (as_dense(m) for m in models.pop(0.0))
    return [BenchTarget(int8, dense_fp32, (dense_int8,)) for _, int8 in models.values()], meta_of


def _probe(folder: Path, tmp: Path, log) -> float:
    from dataclasses import replace

    from edge_transfer.adapt import AdaptOptions, adapt
    from edge_transfer.adapt.options import default_train_settings

    train = replace(default_train_settings(), data=TARGET, augment=False, seed=0)
    r = adapt(AdaptOptions(source=folder, train=train, output=tmp / "probe" / folder.name, precompute=True,
                           probe="lbfgs", engine="onnxruntime", force=True, keep_backbone=False))
    log(f"{folder.name}: target top-1 {r.summary['val_top1']:.4f}")
    return r.summary["val_top1"]


def _rows(records: list[dict], meta_of: dict, top1: dict) -> tuple[list, list]:
    rows, points = [], []
    for r in records:
        if r["variant"] == "dense" or r["engine"] != "deepsparse":
            continue
        key, meta = meta_of[r["model"]]
        family = "speed target" if isinstance(key, str) else "uniform"
        points.append({"ticket": r["model"], "family": family, "key": key, "sparsity": meta.achieved_sparsity,
                       "predicted": r.get("predicted_speedup"), "over_dense_int8": r["speedup_vs_own_precision_dense"],
                       "over_best_peer": r["speedup_vs_best_dense"], "best_peer": r["best_dense_peer"],
                       "latency_ms": r["latency_ms_median"], "top1": top1[key]})
    points.sort(key=lambda p: p["latency_ms"])
    for p in points:
        rows.append([p["key"] if isinstance(p["key"], str) else f"uniform {p['key']:.0%}",
                     f"{p['sparsity']:.1%}", f"{p['predicted']:.2f}x" if p["predicted"] else "-",
                     f"{p['over_dense_int8']:.2f}x", f"{p['over_best_peer']:.2f}x", f"{p['latency_ms']:.3f}",
                     f"{p['top1']:.4f}"])
    return rows, points


def _at_equal_speed(points: list[dict]) -> list[str]:
    """Each speed-target ticket against the uniform frontier at its measured latency."""
    uniform = sorted((p for p in points if p["family"] == "uniform"), key=lambda p: p["latency_ms"])
    out = []
    for p in (p for p in points if p["family"] == "speed target"):
        pair = next(((a, b) for a, b in zip(uniform, uniform[1:]) if a["latency_ms"] <= p["latency_ms"] <= b["latency_ms"]),
                    None)
        if pair is None:
            out.append(f"{p['key']}: measured {p['latency_ms']:.3f} ms lies outside the uniform tickets' range; "
                       "no comparison at equal speed")
            continue
        a, b = pair
        w = (p["latency_ms"] - a["latency_ms"]) / max(b["latency_ms"] - a["latency_ms"], 1e-12)
        top1 = a["top1"] + w * (b["top1"] - a["top1"])
        sparsity = a["sparsity"] + w * (b["sparsity"] - a["sparsity"])
        out.append(f"{p['key']} ({p['sparsity']:.1%} sparse, {p['latency_ms']:.3f} ms): target top-1 {p['top1']:.4f} "
                   f"vs {top1:.4f} for uniform sparsity at the same measured latency (~{sparsity:.1%} sparse, "
                   f"interpolated between {a['sparsity']:.0%} and {b['sparsity']:.0%}): "
                   f"{100 * (p['top1'] - top1):+.1f} points")
    return out


def _plot(points: list[dict], path: Path, batch: int) -> None:
    """Left: target top-1 against measured latency; right: total sparsity against measured speedup."""
    from edge_transfer.plots import save_figure, two_panels

    fig, (acc, sparsity) = two_panels()
    for family, marker in (("uniform", "o-"), ("speed target", "s-")):
        ps = sorted((p for p in points if p["family"] == family), key=lambda p: p["latency_ms"])
        acc.plot([p["latency_ms"] for p in ps], [p["top1"] for p in ps], marker, label=family)
        sparsity.plot([p["over_dense_int8"] for p in ps], [p["sparsity"] for p in ps], marker, label=family)
    acc.set_xlabel(f"measured latency, ms (DeepSparse INT8 1x4, batch {batch})")
    acc.set_ylabel(f"top-1 on {TARGET} (converged linear probe)")
    sparsity.set_xlabel("measured speedup over the dense INT8 model (DeepSparse)")
    sparsity.set_ylabel("total sparsity")
    save_figure(fig, (acc, sparsity), path)


if __name__ == "__main__":
    sys.exit(main())
