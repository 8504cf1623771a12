"""``edge-transfer demo``: the product end to end on small, shipped inputs, led by a
measured speedup.

1. Pretrains resnet18-cifar on embedded:mnist-0to4 (16 px, a few epochs), so its tickets
   and the online-learning slice mean something; resnet50 stays untrained (speed only).
2. Draws OMP tickets at 0/0.8/0.9/0.95 per architecture (plus 1x4-block tickets of the
   benchmarked architecture), exports and validates each.
3. Benchmarks resnet50's tickets, FP32 and INT8, at batch 1 and 64 against every dense
   peer a user would deploy instead (dense FP32 and INT8 on DeepSparse, ONNX Runtime and
   OpenVINO), all in one run on the same cores: the report's top table is each ticket's
   speedup over the fastest of them. Short timings: benchmarks/ holds the long ones.
4. Online learning: the trained 90% ticket against its dense baseline on the target task.

Writes a Markdown report, JSON and the speedup plot under the output folder (default
``export/demo``), which the demo owns and replaces as a whole on every run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import OptionError, OutputExistsError
from .formats import ticket_tag

DEMO_MARKER = ".edge-transfer-demo"  # in every folder the demo writes: the only kind it replaces
SOURCE_IMAGE_SIZE = 16  # the study's size: pretraining on 2 cores in about a minute


@dataclass
class DemoOptions:
    output: Path = Path("export/demo")
    archs: tuple[str, ...] = ("resnet50", "resnet18-cifar")
    sparsities: tuple[float, ...] = (0.0, 0.8, 0.9, 0.95)
    validate_engines: tuple[str, ...] = ("onnxruntime", "deepsparse")
    seed: int = 0
    # Trained source for these archs (the rest stay untrained: speed only).
    pretrain_archs: tuple[str, ...] = ("resnet18-cifar",)
    source_data: str = "embedded:mnist-0to4"
    pretrain_epochs: int = 3  # 0: every ticket untrained
    # The measured headline: this arch's tickets at these sparsities (and 1x4 blocks), FP32 and INT8.
    bench: bool = True
    bench_arch: str = "resnet50"
    bench_sparsities: tuple[float, ...] = (0.9,)
    bench_blocks: tuple[int, ...] = (1, 4)
    bench_engines: tuple[str, ...] = ("deepsparse", "onnxruntime", "openvino")
    ticket_engines: tuple[str, ...] = ("deepsparse",)  # the sparse engine; dense peers run on every engine
    bench_batch_sizes: tuple[int, ...] = (1, 64)
    bench_time_s: float = 1.0
    calibration: str = "embedded:mnist-5to9"
    calibration_samples: int = 64
    # Online learning: this ticket against its dense baseline on the embedded target task.
    adapt_ticket: str = "resnet18-cifar-omp90"
    adapt_epochs: int = 5
    # Natural vs robust quick study: opt-in (about 5 minutes more, a smoke-sized study).
    # Its own folder outside the demo's, so its cached pretraining and evaluations survive reruns.
    study: bool = False
    study_output: Path = Path("export/demo-study")

    def validate(self) -> None:
        from .backbones import get_backbone_cfg
        from .engines import get_engine

        for arch in self.archs:
            get_backbone_cfg(arch)
        for s in self.sparsities:
            if not 0.0 <= s < 1.0:
                raise OptionError(f"--sparsities must be in [0, 1), got {s}")
        if self.pretrain_epochs < 0 or self.adapt_epochs < 0:
            raise OptionError("--pretrain-epochs and --adapt-epochs must be >= 0 (0 skips the stage)")
        if self.bench:
            if self.bench_arch not in self.archs:
                raise OptionError(f"--bench-arch {self.bench_arch} is not one of --archs {','.join(self.archs)}; "
                                  "add it, or pass --no-bench")
            for name in self.bench_engines:
                get_engine(name)
            if any(not 0.0 < s < 1.0 for s in self.bench_sparsities):
                raise OptionError(f"--bench-sparsities must be in (0, 1), got {self.bench_sparsities}")
            if not self.bench_time_s > 0:
                raise OptionError(f"--bench-time must be > 0 seconds, got {self.bench_time_s}")

    def trained(self, arch: str) -> bool:
        return arch in self.pretrain_archs and self.pretrain_epochs > 0

    def tickets(self) -> list[tuple[str, float, int]]:
        """(arch, sparsity, block) of every ticket drawn: the sparsity grid, plus the block
        tickets of the benchmarked architecture."""
        out = [(arch, s, 1) for arch in self.archs for s in self.sparsities]
        if self.bench:
            for s in self.bench_sparsities:
                out += [(self.bench_arch, s, b) for b in self.bench_blocks if (self.bench_arch, s, b) not in out]
        return out


@dataclass
class DemoResult:
    path: Path
    rows: list[dict] = field(default_factory=list)
    metas: dict = field(default_factory=dict, repr=False)  # ticket tag -> TicketMeta
    sources: dict = field(default_factory=dict, repr=False)  # arch -> pretraining record
    bench: object | None = field(default=None, repr=False)  # BenchResult of the measured headline
    adapt: dict | None = field(default=None, repr=False)  # adapt.json of the online-learning run
    study: dict | None = field(default=None, repr=False)  # study.json of the quick transfer study
    seconds: float = 0.0


def _pretrain(opts: DemoOptions, arch: str, folder: Path, log) -> tuple[Path, dict]:
    from .pretrain import PretrainOptions, default_train_settings, pretrain
    from .train import TrainSettings

    defaults = default_train_settings()
    train = TrainSettings(data=opts.source_data, epochs=opts.pretrain_epochs, lr=defaults.lr,
                          weight_decay=defaults.weight_decay, image_size=SOURCE_IMAGE_SIZE, seed=opts.seed,
                          progress=False)
    log(f"pretraining {arch} on {opts.source_data} ({opts.pretrain_epochs} epochs at {SOURCE_IMAGE_SIZE} px)")
    result = pretrain(PretrainOptions(arch=arch, output=folder / f"{arch}.pt", train=train), log=lambda m: log("  " + m))
    return result.path, result.record


def _draw_and_export(opts: DemoOptions, tmp: Path, sources: dict, log) -> tuple[list[dict], dict]:
    from .export import ExportOptions, export_ticket
    from .prune import PruneOptions, draw_ticket
    from .train import TrainSettings

    rows, metas = [], {}
    todo = opts.tickets()
    for i, (arch, sparsity, block) in enumerate(todo, 1):
        tag = f"{arch}-{ticket_tag('omp', sparsity, block)}"  # speed_only_tickets' folder names: bench reuses them
        source = sources.get(arch)
        log(f"[{i}/{len(todo)}] {tag}: drawing OMP ticket" + (" (untrained: speed only)" if source is None else ""))
        # Per-layer ranking: see bench.targets.default_targets for why, on untrained weights.
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


def _bench(opts: DemoOptions, tmp: Path, log):
    """The measured headline: the benchmarked arch's tickets (FP32 and INT8) and its dense
    model (FP32 and INT8) on every engine, one run, short timings."""
    from .bench import BenchOptions, run_bench
    from .bench.report import plot, write_json
    from .bench.targets import default_targets

    targets = []
    for block in opts.bench_blocks:
        targets += default_targets(tmp, "model.onnx", log, arch=opts.bench_arch, sparsities=opts.bench_sparsities,
                                   block=block, calibration=opts.calibration, samples=opts.calibration_samples)
    bench_opts = BenchOptions(engines=opts.bench_engines, ticket_engines=opts.ticket_engines,
                              batch_sizes=opts.bench_batch_sizes, time_s=opts.bench_time_s, warmup_s=0.5,
                              min_iterations=3, repeats=1, memory=False, int8_peers=False, seed=opts.seed)
    log(f"benchmarking {opts.bench_arch}: tickets on {', '.join(opts.ticket_engines)}, dense FP32 and INT8 on "
        f"{', '.join(opts.bench_engines)}, batch {', '.join(map(str, opts.bench_batch_sizes))}")
    result = run_bench(bench_opts, log=lambda m: log("  " + m), argv=["edge-transfer", "demo"], targets=targets)
    write_json(tmp / "bench.json", result)
    plot(tmp / "speedup.png", result.records)
    return result


def _adapt(opts: DemoOptions, tmp: Path, log) -> dict:
    from dataclasses import replace

    from .adapt import AdaptOptions, adapt
    from .adapt.options import default_train_settings

    log(f"online learning: {opts.adapt_ticket} vs its dense baseline, embedded:mnist-5to9, "
        f"{opts.adapt_epochs} epochs on DeepSparse")
    train = replace(default_train_settings(), data="embedded:mnist-5to9", epochs=opts.adapt_epochs, seed=opts.seed)
    return adapt(AdaptOptions(source=tmp / "tickets" / opts.adapt_ticket, train=train,
                              output=tmp / "adapt" / opts.adapt_ticket, compare_dense=True, engine="deepsparse"),
                 log=log).payload


def _check_demo_output(output: Path) -> None:
    """The demo replaces its report folder on each run: only a folder it made (it holds the
    marker) or an empty one, never a folder with the user's files."""
    if output.is_dir() and any(output.iterdir()) and not (output / DEMO_MARKER).is_file():
        raise OutputExistsError(f"{output} holds files the demo did not write; choose another --output "
                                "(the demo replaces only a folder it made)")


def run_demo(opts: DemoOptions, log: Callable[[str], None] = print) -> DemoResult:
    from .fileio import atomic_output_dir, write_json
    from .system import system_info

    opts.validate()
    _check_demo_output(Path(opts.output))
    start = time.perf_counter()
    with atomic_output_dir(opts.output, force=True) as tmp:
        (tmp / DEMO_MARKER).write_text("written by `edge-transfer demo`, which replaces this folder on each run\n")
        sources = {arch: _pretrain(opts, arch, tmp / "source", log) for arch in opts.archs if opts.trained(arch)}
        rows, metas = _draw_and_export(opts, tmp, sources, log)
        bench = _bench(opts, tmp, log) if opts.bench else None
        adapted = _adapt(opts, tmp, log) if opts.adapt_ticket in metas and opts.adapt_epochs > 0 else None
        study = None
        if opts.study:
            from .study import StudyOptions, run_study

            log(f"transfer study: study --quick at 90% sparsity (results kept in {opts.study_output})")
            study = run_study(StudyOptions(quick=True, sparsities=(0.9,), output=opts.study_output),
                              log=lambda m: log("  " + m)).payload
        result = DemoResult(path=opts.output, rows=rows, metas=metas, sources={a: r for a, (_, r) in sources.items()},
                            bench=bench, adapt=adapted, study=study, seconds=time.perf_counter() - start)
        system = system_info()
        write_json(tmp / "results.json", {
            "schema": "edge-transfer.demo/2", "system": system, "tickets": rows,
            "sources": {a: {"val_clean": r["val_clean"], "data": r["data"]["spec"], "epochs": len(r["epochs"])}
                        for a, r in result.sources.items()},
            "headline": _headline_records(bench) if bench else None,
            "adapt": adapted["summary"] if adapted else None,
            "study": {"headline": study["headline"], "results": study["results"]} if study else None,
            "seconds": result.seconds})
        (tmp / "report.md").write_text(_report(result, system, opts))
    return result


HEADLINE_FIELDS = ("model", "precision", "batch_size", "engine", "items_per_sec", "best_dense_peer",
                   "best_dense_peer_items_per_sec", "speedup_vs_best_dense", "sparsity", "untrained")


def _headline_records(bench) -> list[dict]:
    from .bench.report import headline

    return [{k: r.get(k) for k in HEADLINE_FIELDS} for r in headline(bench.records)]


def summary_table(rows: list[dict], engines) -> tuple[list[str], list[list]]:
    headers = ["ticket", "sparsity", "GMACs left", "ideal speedup"] + [f"parity {e}" for e in engines] + ["lost zeros"]
    table = [
        [r["ticket"] + (" (untrained: speed only)" if r["untrained"] else ""), f"{r['achieved_sparsity']:.2%}",
         f"{r['gmacs_left']:.3f}", f"{r['ideal_speedup']:.2f}x"]
        + [f"{r['max_rel_diff'][e]:.1e}" for e in engines]
        + [r["lost_zeros"]]
        for r in rows
    ]
    return headers, table


def _bench_section(result: DemoResult, opts: DemoOptions) -> list[str]:
    from .bench.report import HEADLINE_HEADERS, TABLE_HEADERS, footnotes, headline_rows, table_rows
    from .tables import markdown_table

    bench = result.bench
    return ["## Measured: tickets vs the fastest dense model you could deploy instead", "",
            f"{opts.bench_arch} OMP tickets (FP32, and INT8 in DeepSparse's form) on {', '.join(opts.ticket_engines)}, "
            f"against the dense model in FP32 and INT8 on {', '.join(opts.bench_engines)}, batch "
            f"{', '.join(map(str, opts.bench_batch_sizes))}, all in one run on the same cores. The speedup is over "
            "the fastest dense row of the run at that batch. INT8 models are calibrated on "
            f"{opts.calibration_samples} images of {opts.calibration}. Short timings ({opts.bench_time_s:g} s per "
            "configuration, one repeat): `benchmarks/quantized_speedup.py` has the long, repeated ones.", "",
            markdown_table(HEADLINE_HEADERS, headline_rows(bench.records)), "",
            "![speedup over the fastest dense peer](speedup.png)", "",
            "<details><summary>every configuration</summary>", "",
            markdown_table(TABLE_HEADERS, table_rows(bench.records)), "", "</details>", ""] \
        + [f"- {line}" for line in footnotes(bench)] + [""]


def _report(result: DemoResult, system: dict, opts: DemoOptions) -> str:
    from .export.validate import FP32_TOLERANCE
    from .tables import markdown_table, ticket_layer_table, ticket_summary_lines

    headers, table = summary_table(result.rows, opts.validate_engines)
    out = [
        "# edge-transfer demo",
        "",
        f"Machine: {system['cpu_model']}, {system['physical_cores']} physical cores, ISA {system.get('isa')}; "
        f"torch {system['torch']}, onnxruntime {system['onnxruntime']}, deepsparse {system['deepsparse']}. "
        f"Run time {result.seconds:.0f} s.",
        "",
    ]
    if result.bench is not None:
        out += _bench_section(result, opts)
    sources = [f"{arch}: pretrained on {r['data']['spec']} for {len(r['epochs'])} epochs at "
               f"{r['input_size'][-1]} px, val top-1 {r['val_clean']['top1']:.3f}" for arch, r in result.sources.items()]
    untrained = sorted({r["arch"] for r in result.rows if r["untrained"]})
    out += [
        "## Tickets",
        "",
        *[f"- {line} (its tickets are drawn from it)" for line in sources],
        *([f"- {', '.join(untrained)}: drawn from random initialisation (**untrained weights: speed only**): the "
           "sparsity pattern and cost are real, the accuracy is meaningless."] if untrained else []),
        "- OMP drawn per layer (`--scope layer`): a global ranking of random weights follows kaiming's fan-in "
        "scaling and strips the large late layers almost bare.",
        "",
        "Parity: max |engine - PyTorch| / max |PyTorch| over model.onnx and backbone.onnx on seeded inputs "
        f"(tolerance {FP32_TOLERANCE:.0e}, or the backbone's own). Lost zeros: weights zero in the ticket but not in the exported graph.",
        "",
        markdown_table(headers, table),
        "",
    ]
    if result.adapt:
        from .adapt.report import summary_lines

        trained = not result.adapt["backbone"]["sparse"]["untrained"]
        out += ["## Online learning", "",
                f"{opts.adapt_ticket} and its dense baseline as frozen DeepSparse backbones feeding a linear head, "
                "trained online (augmentation on) on the embedded target task, MNIST digits 5-9; epochs of the two "
                "interleaved. Run folder: `adapt/`. "
                + ("The backbone was pretrained on digits 0-4, so the accuracy is a transfer accuracy (chance is 0.2)."
                   if trained else "With an untrained backbone the features carry little about digits and online "
                   "accuracy stays near chance (0.2 for 5 classes): the timings, not the accuracy, are what this "
                   "section shows."), ""]
        out += [f"- {line}" for line in summary_lines(result.adapt)] + [""]
    if result.study:
        out += _study_section(result.study, opts)
    out += ["## Per-layer tables"]
    for tag, meta in result.metas.items():
        layer_headers, layer_rows = ticket_layer_table(meta)
        out += ["", f"<details><summary>{tag}</summary>", "", *[f"    {line}" for line in ticket_summary_lines(meta)], ""]
        out += [markdown_table(layer_headers, layer_rows), "", "</details>"]
    return "\n".join(out) + "\n"


def _study_section(study: dict, opts: DemoOptions) -> list[str]:
    from .study.report import table_rows
    from .tables import markdown_table

    st = study["settings"]
    out = ["## Natural vs robust tickets (quick study)", "",
           f"`edge-transfer study --quick --sparsities 0.9`: {st['arch']} pretrained naturally and with PGD on "
           f"{st['source']} for {st['pretrain_epochs']} epoch on {st['source_limit']} images, tickets drawn by "
           f"{', '.join(st['methods'])}, transferred to {st['target']} (linear: converged probe; full: "
           f"{st['finetune_epochs']} epoch; both on {st['train_limit']} images, fresh BatchNorm statistics). One "
           "source seed, so the verdict below is \"no conclusion\" by design: a claim needs at least 3 independent "
           "pretrainings per arm (`edge-transfer study --source-seeds 5`; benchmarks/README.md has a measured run). "
           f"Folder: `{opts.study_output}/`.", ""]
    out += [f"- {line}" for line in study["headline"]] + [""]
    return out + [markdown_table(*table_rows(study)), ""]
