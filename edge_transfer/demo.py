"""``edge-transfer demo``: the product end to end on small, shipped inputs.

Draws OMP tickets at 0/0.8/0.9/0.95 for resnet50 (untrained weights, labelled
speed only) and resnet18-cifar, exports and validates each, and writes a
Markdown report and JSON under the output folder (default ``export/demo``).
The demo owns that folder and replaces it as a whole on every run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass
class DemoOptions:
    output: Path = Path("export/demo")
    archs: tuple[str, ...] = ("resnet50", "resnet18-cifar")
    sparsities: tuple[float, ...] = (0.0, 0.8, 0.9, 0.95)
    validate_engines: tuple[str, ...] = ("onnxruntime", "deepsparse")
    seed: int = 0
    # Online learning: this ticket against its dense baseline on the embedded target task.
    adapt_ticket: str = "resnet18-cifar-omp90"
    adapt_epochs: int = 5
    # Transfer study headline (natural vs robust at 0.9): `study --quick` at that one sparsity.
    # Its own folder outside the demo's, so its cached pretraining and evaluations survive reruns.
    study: bool = True
    study_output: Path = Path("export/demo-study")


@dataclass
class DemoResult:
    path: Path
    rows: list[dict] = field(default_factory=list)
    metas: dict = field(default_factory=dict, repr=False)  # ticket tag -> ticket.json
    adapt: dict | None = field(default=None, repr=False)  # adapt.json of the online-learning run
    study: dict | None = field(default=None, repr=False)  # study.json of the quick transfer study
    seconds: float = 0.0


def _tag(arch: str, sparsity: float) -> str:
    return f"{arch}-omp{round(sparsity * 100):02d}"


def run_demo(opts: DemoOptions, log: Callable[[str], None] = print) -> DemoResult:
    from .export import ExportOptions, export_ticket
    from .fileio import atomic_output_dir, write_json
    from .prune import PruneOptions, draw_ticket
    from .system import system_info

    start = time.perf_counter()
    rows, metas = [], {}
    with atomic_output_dir(opts.output, force=True) as tmp:
        for arch in opts.archs:
            for sparsity in opts.sparsities:
                tag = _tag(arch, sparsity)
                log(f"[{len(rows) + 1}/{len(opts.archs) * len(opts.sparsities)}] {tag}: drawing OMP ticket")
                # Per-layer ranking: see bench.targets.default_targets for why, on untrained weights.
                ticket = draw_ticket(
                    PruneOptions(arch=arch, output=tmp / "tickets" / tag, sparsity=sparsity, scope="layer", seed=opts.seed)
                )
                exported = export_ticket(
                    ExportOptions(ticket=ticket.path, output=tmp / "exports" / tag, validate_engines=opts.validate_engines),
                    log=log,
                )
                metas[tag] = ticket.meta
                v = exported.manifest["validation"]
                rows.append(
                    {
                        "ticket": tag,
                        "arch": arch,
                        "target_sparsity": sparsity,
                        "achieved_sparsity": ticket.meta["achieved_sparsity"],
                        "ideal_speedup": ticket.meta["totals"]["ideal_speedup"],
                        "gmacs_left": ticket.meta["totals"]["remaining_macs"] / 1e9,
                        "max_rel_diff": {e: max(p["max_rel_diff"] for p in v["parity"] if p["engine"] == e) for e in opts.validate_engines},
                        "lost_zeros": v["lost_zeros"],
                        "untrained": ticket.meta["untrained"],
                    }
                )
        adapted = None
        if opts.adapt_ticket in metas and opts.adapt_epochs > 0:
            from .adapt import AdaptOptions, adapt

            log(f"online learning: {opts.adapt_ticket} vs its dense baseline, embedded:mnist-5to9, "
                f"{opts.adapt_epochs} epochs on DeepSparse")
            adapted = adapt(AdaptOptions(source=tmp / "tickets" / opts.adapt_ticket, data="embedded:mnist-5to9",
                                         output=tmp / "adapt" / opts.adapt_ticket, epochs=opts.adapt_epochs,
                                         compare_dense=True, engine="deepsparse", seed=opts.seed), log=log).payload
        study = None
        if opts.study:
            from .study import StudyOptions, run_study

            log(f"transfer study headline: study --quick at 90% sparsity (results kept in {opts.study_output})")
            study = run_study(StudyOptions(quick=True, sparsities=(0.9,), output=opts.study_output),
                              log=lambda m: log("  " + m)).payload
        result = DemoResult(path=opts.output, rows=rows, metas=metas, adapt=adapted, study=study,
                            seconds=time.perf_counter() - start)
        system = system_info()
        write_json(tmp / "results.json", {"schema": "edge-transfer.demo/1", "system": system, "tickets": rows,
                                          "adapt": adapted["summary"] if adapted else None,
                                          "study": {"headline": study["headline"], "results": study["results"]}
                                          if study else None, "seconds": result.seconds})
        (tmp / "report.md").write_text(_report(result, system, opts))
    return result


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


def _report(result: DemoResult, system: dict, opts: DemoOptions) -> str:
    from .tables import markdown_table, ticket_layer_table, ticket_summary_lines

    headers, table = summary_table(result.rows, opts.validate_engines)
    out = [
        "# edge-transfer demo",
        "",
        f"Machine: {system['cpu_model']}, {system['physical_cores']} physical cores, ISA {system.get('isa')}; "
        f"torch {system['torch']}, onnxruntime {system['onnxruntime']}, deepsparse {system['deepsparse']}. "
        f"Run time {result.seconds:.0f} s.",
        "",
        "OMP tickets drawn per layer (`--scope layer`) from **random initialisation (untrained weights: speed "
        "only)**: their sparsity pattern and cost are real, their accuracy is meaningless. (A global ranking of "
        "random weights follows kaiming's fan-in scaling and strips the large late layers almost bare.)",
        "",
        "## Tickets",
        "",
        "Parity: max |engine - PyTorch| / max |PyTorch| over model.onnx and backbone.onnx on seeded inputs "
        "(tolerance 1e-3). Lost zeros: weights zero in the ticket but not in the exported graph.",
        "",
        markdown_table(headers, table),
        "",
    ]
    if result.adapt:
        from .adapt.report import summary_lines

        out += ["## Online learning", "",
                f"{opts.adapt_ticket} and its dense baseline as frozen DeepSparse backbones feeding a linear head, "
                "trained online (augmentation on) on the embedded target task, MNIST digits 5-9; epochs of the two "
                "interleaved. Run folder: `adapt/`. With an untrained backbone the features carry little about "
                "digits and online accuracy stays near chance (0.2 for 5 classes): the timings, not the accuracy, "
                "are what this section shows.", ""]
        out += [f"- {line}" for line in summary_lines(result.adapt)] + [""]
    if result.study:
        from .study.report import table_rows

        st = result.study["settings"]
        out += ["## Natural vs robust tickets (quick study)", "",
                f"`edge-transfer study --quick --sparsities 0.9`: {st['arch']} pretrained naturally and with PGD on "
                f"{st['source']} for {st['pretrain_epochs']} epoch on {st['train_limit']} images, tickets drawn by "
                f"{', '.join(st['methods'])}, transferred to {st['target']} (linear and full, one seed). A smoke-sized "
                f"study: one seed and one epoch (full fine-tuning is {-(-st['train_limit'] // 64) * st['finetune_epochs']} "
                "optimiser steps, so its accuracies can sit near chance, 20% for 5 classes): differences of a few "
                "points are noise. The full study is "
                "`edge-transfer study`; benchmarks/README.md has a measured default run. Folder: "
                f"`{opts.study_output}/`.", ""]
        out += [f"- {line}" for line in result.study["headline"]] + [""]
        out += [markdown_table(*table_rows(result.study)), ""]
    out += ["## Per-layer tables"]
    for tag, meta in result.metas.items():
        layer_headers, layer_rows = ticket_layer_table(meta)
        out += ["", f"<details><summary>{tag}</summary>", "", *[f"    {line}" for line in ticket_summary_lines(meta)], ""]
        out += [markdown_table(layer_headers, layer_rows), "", "</details>"]
    return "\n".join(out) + "\n"
