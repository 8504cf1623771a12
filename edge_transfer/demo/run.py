"""``edge-transfer demo``: the product end to end on small, shipped inputs, led by a
measured speedup.

1. Pretrains resnet18-cifar on embedded:mnist-0to4 (16 px, a few epochs), so its tickets
   and the online-learning slice mean something; resnet50 stays untrained (speed only).
2. Draws OMP tickets at 0/0.8/0.9/0.95 per architecture (plus 1x4-block tickets of the
   benchmarked architecture), exports and validates each.
3. Profiles resnet50 in INT8 1x4 blocks on DeepSparse at batch 1 and draws a ticket pruned to
   a speed target from it (``prune --target-speedup``).
4. Benchmarks resnet50's tickets, FP32 and INT8, at batch 1 and 64 against every dense
   peer a user would deploy instead (dense FP32 and INT8 on DeepSparse, ONNX Runtime and
   OpenVINO), all in one run on the same cores: the report's top table is each ticket's
   speedup over the fastest of them. Short timings: benchmarks/ holds the long ones.
5. Online learning: the trained 90% ticket against its dense baseline on the target task.

Writes a Markdown report, JSON and the speedup plot under the output folder (default
``export/demo``), which the demo owns and replaces as a whole on every run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..adapt import AdaptOptions, adapt
from ..adapt.options import default_train_settings as adapt_train_settings
from ..bench import BenchOptions, run_bench
from ..bench.made import default_targets
from ..bench.report import plot, write_json
from ..bench.targets import BenchTarget, manifest_model
from ..data import load_task
from ..deploy import DeployOptions, deploy, load
from ..errors import OutputExistsError
from ..fileio import atomic_output_dir, write_json as write_json_file
from ..export import ExportOptions, export_ticket
from ..formats import INT8, MODEL_FILE, ticket_tag
from ..pretrain import PretrainOptions, default_train_settings, pretrain
from ..prune import PruneOptions, draw_ticket
from ..quantize import QuantizeOptions, quantize
from ..speed.profile import ProfileOptions, measure_profile
from ..speed.report import plot_profile
from ..study import StudyOptions, run_study
from ..system import system_info
from ..train import TrainSettings
from .options import DEMO_MARKER, SOURCE_IMAGE_SIZE, DemoOptions, DemoResult
from .report import headline_records, report


def _pretrain(opts: DemoOptions, arch: str, folder: Path, log) -> tuple[Path, dict]:
    defaults = default_train_settings()
    train = TrainSettings(data=opts.source_data, epochs=opts.pretrain_epochs, lr=defaults.lr,
                          weight_decay=defaults.weight_decay, image_size=SOURCE_IMAGE_SIZE, seed=opts.seed,
                          progress=False)
    log(f"pretraining {arch} on {opts.source_data} ({opts.pretrain_epochs} epochs at {SOURCE_IMAGE_SIZE} px)")
    result = pretrain(PretrainOptions(arch=arch, output=folder / f"{arch}.pt", train=train), log=lambda m: log("  " + m))
    return result.path, result.record


def _draw_and_export(opts: DemoOptions, tmp: Path, sources: dict, log) -> tuple[list[dict], dict]:
    rows, metas = [], {}
    todo = opts.tickets()
    for i, (arch, sparsity, block) in enumerate(todo, 1):
        tag = f"{arch}-{ticket_tag('omp', sparsity, block)}"  # speed_only_tickets' folder names: bench reuses them
        source = sources.get(arch)
        log(f"[{i}/{len(todo)}] {tag}: drawing OMP ticket" + (" (untrained: speed only)" if source is None else ""))
        # Per-layer ranking: see bench.made.default_targets for why, on untrained weights.
        trained = {} if source is None else dict(checkpoint=source[0], pretraining="natural",
                                                 train=TrainSettings(image_size=source[1]["input_size"][-1]))
        ticket = draw_ticket(PruneOptions(arch=arch, output=tmp / "tickets" / tag, sparsity=sparsity, scope="layer",
                                          seed=opts.seed, block=block, **trained))
        exported = export_ticket(
            ExportOptions(ticket=ticket.path, output=tmp / "exports" / tag, validate_engines=opts.validate_engines),
            log=log,
        )
        metas[tag] = ticket.meta
        v = exported.manifest.validation
        rows.append(
            {
                "ticket": tag,
                "arch": arch,
                "block": block,
                "target_sparsity": sparsity,
                "achieved_sparsity": ticket.meta.achieved_sparsity,
                "ideal_speedup": ticket.meta.totals["ideal_speedup"],
                "gmacs_left": ticket.meta.totals["remaining_macs"] / 1e9,
                "max_rel_diff": {e: max(p["max_rel_diff"] for p in v["parity"] if p["engine"] == e) for e in opts.validate_engines},
                "lost_zeros": v["lost_zeros"],
                "untrained": ticket.meta.untrained,
            }
        )
    return rows, metas


def _bench(opts: DemoOptions, tmp: Path, sources: dict, log):
    """The measured headline: the benchmarked arch's tickets (FP32 and INT8) and its dense
    model (FP32 and INT8) on every engine, one run, short timings."""
    targets = []
    for block in opts.bench_blocks:
        targets += default_targets(tmp, MODEL_FILE, log, arch=opts.bench_arch, sparsities=opts.bench_sparsities,
                                   block=block, calibration=opts.calibration, samples=opts.calibration_samples)
    speed_ticket = None
    if opts.speed_target is not None:
        target, speed_ticket = _speed_target(opts, tmp, targets[0], sources.get(opts.bench_arch), log)
        targets.append(target)
    bench_opts = BenchOptions(engines=opts.bench_engines, ticket_engines=opts.ticket_engines,
                              batch_sizes=opts.bench_batch_sizes, time_s=opts.bench_time_s, warmup_s=0.5,
                              min_iterations=3, repeats=1, memory=False, int8_peers=False, seed=opts.seed)
    log(f"benchmarking {opts.bench_arch}: tickets on {', '.join(opts.ticket_engines)}, dense FP32 and INT8 on "
        f"{', '.join(opts.bench_engines)}, batch {', '.join(map(str, opts.bench_batch_sizes))}")
    result = run_bench(bench_opts, log=lambda m: log("  " + m), argv=["edge-transfer", "demo"], targets=targets)
    write_json(tmp / "bench.json", result)
    plot(tmp / "speedup.png", result.records)
    return result, speed_ticket


def _speed_target(opts: DemoOptions, tmp: Path, reference, source, log):
    """The benchmarked arch pruned to a speed target: its profile on this machine (DeepSparse,
    INT8 in the largest block, at ``speed_target_batch``), the ticket ``prune --target-speedup``
    draws from it (from the pretrained ``source`` where the demo trained one), quantized as the
    others are; a bench target beside ``reference``'s dense peers."""
    arch, block, batch = opts.bench_arch, max(opts.bench_blocks), opts.speed_target_batch
    log(f"profiling {arch} INT8 (1x{block} blocks) on DeepSparse at batch {batch}, sparsities "
        f"{', '.join(f'{s:g}' for s in opts.profile_grid)} in every layer (`edge-transfer profile`)")
    profile = measure_profile(ProfileOptions(model=tmp / "tickets" / f"{arch}-{ticket_tag('omp', 0.0, 1)}",
                                             output=tmp / "profile.json", batch_size=batch, precision=INT8,
                                             block=block, grid=opts.profile_grid, iterations=5, time_s=0.5),
                              log=lambda m: log("  " + m))
    plot_profile(profile, tmp / "profile.png")
    ceiling = profile.dense_ms / profile.fastest_ms
    target = opts.speed_target if opts.speed_target <= 0.95 * ceiling else round(0.95 * ceiling, 2)
    if target != opts.speed_target:
        log(f"  {opts.speed_target:g}x is beyond what this device's profile predicts ({ceiling:.2f}x with every layer "
            f"at {opts.profile_grid[-1]:g}): asking for {target:g}x")
    folder = tmp / "tickets" / f"{arch}-target{target:g}x-b{batch}"
    log(f"drawing {folder.name}: `prune --target-speedup {target:g} --profile profile.json --block {block}`"
        + (" (untrained: speed only)" if source is None else ""))
    trained = {} if source is None else dict(checkpoint=source[0], pretraining="natural")
    ticket = draw_ticket(PruneOptions(arch=arch, output=folder, target_speedup=target, profile=tmp / "profile.json",
                                      block=block, scope="layer", seed=opts.seed,
                                      train=TrainSettings(image_size=profile.key.input_size[-1]), **trained),
                         log=lambda m: log("  " + m))
    out = tmp / "int8" / folder.name
    quantize(QuantizeOptions(source=folder, output=out, calibration=opts.calibration, samples=opts.calibration_samples,
                             with_dense=False, validate_engines=(), progress=False))
    return BenchTarget(manifest_model(out, MODEL_FILE, None), reference.baseline, reference.peers), ticket


def _adapt(opts: DemoOptions, tmp: Path, log) -> dict:
    from dataclasses import replace

    log(f"online learning: {opts.adapt_ticket} vs its dense baseline, embedded:mnist-5to9, "
        f"{opts.adapt_epochs} epochs on DeepSparse")
    train = replace(adapt_train_settings(), data="embedded:mnist-5to9", epochs=opts.adapt_epochs, seed=opts.seed)
    return adapt(AdaptOptions(source=tmp / "tickets" / opts.adapt_ticket, train=train,
                              output=tmp / "adapt" / opts.adapt_ticket, compare_dense=True, engine="deepsparse"),
                 log=log).payload


def _deploy(opts: DemoOptions, tmp: Path, log) -> dict:
    """The adapted ticket as one artifact, then ``predict`` on a few target images it has not
    trained on (the val split)."""
    log(f"deploying the adapt run of {opts.adapt_ticket} as one artifact on DeepSparse, then predicting")
    result = deploy(DeployOptions(source=tmp / "adapt" / opts.adapt_ticket, output=tmp / "deploy" / opts.adapt_ticket,
                                  engine="deepsparse", time=opts.deploy_time_s), log=lambda m: log("  " + m))
    task = load_task("embedded:mnist-5to9")
    shown = range(min(opts.predict_images, len(task.val)))
    predicted = load(result.path, engine="deepsparse").predict([task.val.image(i)[0].numpy() for i in shown])
    return {"path": f"deploy/{opts.adapt_ticket}", "validation": result.manifest.validation,
            "predictions": [{"image": f"val #{i}", "true": task.val.classes[task.val.label(i)], "predicted": label,
                             "probability": float(p.max())}
                            for i, label, p in zip(shown, predicted.labels, predicted.probabilities)]}


def _check_demo_output(output: Path) -> None:
    """The demo replaces its report folder on each run: only a folder it made (it holds the
    marker) or an empty one, never a folder with the user's files."""
    if output.is_dir() and any(output.iterdir()) and not (output / DEMO_MARKER).is_file():
        raise OutputExistsError(f"{output} holds files the demo did not write; choose another --output "
                                "(the demo replaces only a folder it made)")


def run_demo(opts: DemoOptions, log: Callable[[str], None] = print) -> DemoResult:
    opts.validate()
    _check_demo_output(Path(opts.output))
    start = time.perf_counter()
    with atomic_output_dir(opts.output, force=True) as tmp:
        (tmp / DEMO_MARKER).write_text("written by `edge-transfer demo`, which replaces this folder on each run\n")
        sources = {arch: _pretrain(opts, arch, tmp / "source", log) for arch in opts.archs if opts.trained(arch)}
        rows, metas = _draw_and_export(opts, tmp, sources, log)
        bench, speed_ticket = _bench(opts, tmp, sources, log) if opts.bench else (None, None)
        if speed_ticket is not None:
            metas[speed_ticket.path.name] = speed_ticket.meta
        adapted = _adapt(opts, tmp, log) if opts.adapt_ticket in metas and opts.adapt_epochs > 0 else None
        deployed = _deploy(opts, tmp, log) if adapted and opts.deploy else None
        study = None
        if opts.study:
            log(f"transfer study: study --quick at 90% sparsity (results kept in {opts.study_output})")
            study = run_study(StudyOptions(quick=True, sparsities=(0.9,), output=opts.study_output),
                              log=lambda m: log("  " + m)).payload
        result = DemoResult(path=opts.output, rows=rows, metas=metas, sources={a: r for a, (_, r) in sources.items()},
                            bench=bench, adapt=adapted, deployed=deployed, study=study, seconds=time.perf_counter() - start)
        system = system_info()
        write_json_file(tmp / "results.json", {
            "schema": "edge-transfer.demo/2", "system": system, "tickets": rows,
            "sources": {a: {"val_clean": r["val_clean"], "data": r["data"]["spec"], "epochs": len(r["epochs"])}
                        for a, r in result.sources.items()},
            "headline": headline_records(bench) if bench else None,
            "speed_target": None if speed_ticket is None else {
                "ticket": speed_ticket.path.name, "achieved_sparsity": speed_ticket.meta.achieved_sparsity,
                **{k: speed_ticket.meta.allocation[k] for k in ("target_speedup", "predicted_speedup", "criterion")}},
            "adapt": adapted["summary"] if adapted else None,
            "deploy": deployed,
            "study": {"headline": study["headline"], "results": study["results"]} if study else None,
            "seconds": result.seconds})
        (tmp / "report.md").write_text(report(result, system, opts))
    return result
