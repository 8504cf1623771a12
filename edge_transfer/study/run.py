"""``run_study``: every cell in turn (seed-major, so an interrupted study still has whole
replicates), then the aggregate, the reports and ``study.json``."""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from ..formats import STUDY_SCHEMA
from .cells import Runs, draw_figures, draw_method, evaluate_transfer, pretrained_source
from .options import StudyOptions, StudyResult

def run_study(opts: StudyOptions, log: Callable[[str], None] = lambda _m: None) -> StudyResult:
    from ..fileio import write_json
    from ..system import system_info
    from ..formats import TICKET_FILE
    from .report import aggregate, source_summary, write_reports

    opts = opts.resolved()
    opts.validate()
    started = time.perf_counter()
    work = Path(opts.output) / f"work-{opts.key()}"
    runs = Runs(work / "runs")
    sources, records = {}, []
    methods = ("dense", *opts.methods)
    n_evals = len(opts.robust) * opts.source_seeds * len(opts.modes) * (1 + len(opts.methods) * len(opts.sparsities))
    log(f"study: {opts.arch}, {opts.source} -> {opts.target}; {len(opts.robust)} pretrainings x "
        f"{opts.source_seeds} source seeds x {len(opts.methods)} methods x {len(opts.sparsities)} sparsities, modes "
        f"{'/'.join(opts.modes)}: {n_evals} transfer evaluations")
    done = 0
    for seed in range(opts.source_seeds):  # seed-major: an interrupted study still has whole replicates
        for pretraining in opts.robust:
            sources[(pretraining, seed)] = pretrained_source(opts, pretraining, seed, log)
            ckpt = sources[(pretraining, seed)][0]
            drawn = {m: draw_method(opts, m, pretraining, ckpt, seed, work, log) for m in methods}
            for method in methods:
                for sparsity, ticket in drawn[method].items():
                    ticket_id = hashlib.sha256((ticket / TICKET_FILE).read_bytes()).hexdigest()[:12]
                    figures = {} if method == "dense" else draw_figures(ticket, drawn.get("omp", {}).get(sparsity))
                    for mode in opts.modes:
                        # keyed by the ticket's own record, so a redrawn ticket is evaluated again
                        key = f"{ticket.relative_to(work / 'tickets')}-{ticket_id}-{mode}".replace("/", "_")
                        record = runs.get(key)
                        if record is None:
                            record = {"pretraining": pretraining, "method": method, "sparsity": sparsity,
                                      "mode": mode, "source_seed": seed, "ticket": str(ticket), **figures,
                                      **evaluate_transfer(opts, mode, ticket, seed, work)}
                            runs.put(key, record)
                        records.append(record)
                        done += 1
                        log(f"[{done}/{n_evals}] {pretraining:9s} source {seed} {method:6s} {sparsity:4.0%} "
                            f"{mode:6s}: top-1 {record['acc']:.4f}, train loss {record['train_loss']:.3f} "
                            f"({time.perf_counter() - started:.0f}s elapsed)")
    results, gaps, headline = aggregate(records, opts)
    payload = {
        "schema": STUDY_SCHEMA,
        "settings": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}, "key": opts.key()},
        "pretrained": [{"pretraining": p, "source_seed": seed, "checkpoint": str(path),
                        "val_clean": rec["val_clean"], "val_robust": rec["val_robust"],
                        "eval_attack": rec["eval_attack"], "seconds": rec["seconds"]}
                       for (p, seed), (path, rec) in sources.items()],
        "results": results,
        "gaps": gaps,
        "headline": headline,
        "runs": records,
        "system": system_info(),
        "seconds": time.perf_counter() - started,
    }
    payload["sources"] = source_summary(payload)
    payload["headline"] = payload["sources"]["warnings"] + headline
    write_reports(Path(opts.output), payload)
    write_json(Path(opts.output) / "study.json", payload)
    if opts.json is not None:
        write_json(opts.json, payload)
    return StudyResult(Path(opts.output), payload)
