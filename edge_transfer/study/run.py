"""``run_study``: every cell (serially or on a dask cluster), then the aggregate, the reports
and ``study.json``."""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

from ..cluster import ClusterSpec, check_shared_folder, local_cores, open_cluster
from ..fileio import write_json
from ..formats import STUDY_SCHEMA
from ..system import system_info
from .graph import Cell, plan, run_cells
from .options import StudyOptions, StudyResult
from .report import aggregate, source_summary, write_reports


def run_study(opts: StudyOptions, log: Callable[[str], None] = lambda _m: None) -> StudyResult:
    opts = opts.resolved()
    opts.validate()
    spec = ClusterSpec.parse(opts.cluster) if opts.cluster else None
    opts = replace(opts, cores=local_cores(spec, opts.cores))
    if spec is None:
        return _run(opts, None, log)

    # workers see the client's paths only if they are absolute (and on a shared filesystem)
    opts = replace(opts, output=Path(opts.output).resolve(),
                   cache_dir=None if opts.cache_dir is None else Path(opts.cache_dir).resolve())
    with open_cluster(spec, log, pin_cores=opts.cores) as (client, _workers):
        for folder in {Path(opts.output), Path(opts.cache_dir or Path(opts.output) / "cache")}:
            check_shared_folder(client, folder)
        return _run(opts, client, log)


def _run(opts: StudyOptions, client, log: Callable[[str], None]) -> StudyResult:
    started = time.perf_counter()
    cells = plan(opts)
    evals = [c for c in cells if c.kind == "eval"]
    log(f"study: {opts.arch}, {opts.source} -> {opts.target}; {len(opts.robust)} pretrainings x "
        f"{opts.source_seeds} source seeds x {len(opts.methods)} methods x {len(opts.sparsities)} sparsities, modes "
        f"{'/'.join(opts.modes)}: {len(evals)} transfer evaluations in {len(cells)} cells, {opts.cores} core(s) each"
        + (f", on {opts.cluster}" if client is not None else ""))
    done = 0

    def report(cell: Cell, result) -> None:
        nonlocal done
        if cell.kind != "eval" and client is None:  # the stages said it themselves
            return
        if cell.kind == "pretrain":
            log(f"{cell.pretraining} source {cell.seed}: pretrained, val top-1 {result[1]['val_clean']['top1']:.4f} "
                f"({result[1]['seconds']:.0f}s of training; checkpoint in {result[0].parent})")
            return
        if cell.kind == "draw":
            log(f"{cell.pretraining} source {cell.seed}: drew {cell.method} at {', '.join(f'{s:g}' for s in result)}")
            return
        done += 1
        log(f"[{done}/{len(evals)}] {cell.pretraining:9s} source {cell.seed} {cell.method:6s} {cell.sparsity:4.0%} "
            f"{cell.mode:6s}: top-1 {result['acc']:.4f}, train loss {result['train_loss']:.3f} "
            f"({time.perf_counter() - started:.0f}s elapsed)")

    outcomes = run_cells(opts, cells, client, report, log)
    records = [outcomes[c] for c in evals]
    sources = {(c.pretraining, c.seed): outcomes[c] for c in cells if c.kind == "pretrain"}
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
