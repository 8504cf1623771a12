"""The study as a graph of cells: a pretraining, then its draws, then one transfer
evaluation per ticket and mode. ``run_cells`` walks it in order in this process or submits it
to a dask cluster, where a cell's dependencies are dask dependencies (no barrier between
seeds or pretrainings). Both call the same ``execute``, with the same threads per cell, so a
cell gives the same numbers either way."""

from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..cluster.progress import follow
from ..errors import ClusterError
from ..formats import TICKET_FILE
from .cells import Runs, draw_figures, draw_method, evaluate_transfer, pretrained_source
from .options import DENSE, MASK_TRANSFERS, OVERLAP_REFERENCE, StudyOptions


@dataclass(frozen=True)
class Cell:
    kind: str  # pretrain, draw, eval
    pretraining: str
    seed: int
    method: str | None = None
    sparsity: float | None = None
    mode: str | None = None

    @property
    def name(self) -> str:
        parts = [self.kind, self.pretraining, f"s{self.seed}", self.method,
                 None if self.sparsity is None else f"{self.sparsity:g}", self.mode]
        return "-".join(p for p in parts if p is not None)

    def deps(self, opts: StudyOptions) -> tuple["Cell", ...]:
        if self.kind == "draw":
            donor = MASK_TRANSFERS.get(self.method)
            return (Cell("pretrain", self.pretraining, self.seed),
                    *(() if donor is None else (Cell("draw", self.pretraining, self.seed, donor),)))
        if self.kind == "eval":  # a draw cell is named by its scheme; an eval by its --methods label
            scheme = opts.arm_method(self.method, self.pretraining)
            overlap = scheme not in (DENSE, OVERLAP_REFERENCE) and OVERLAP_REFERENCE in opts.methods
            draws = [scheme] + ([OVERLAP_REFERENCE] if overlap else [])
            return tuple(Cell("draw", self.pretraining, self.seed, m) for m in draws)
        return ()


def plan(opts: StudyOptions) -> list[Cell]:
    """Every cell, seed-major (an interrupted study still has whole replicates), each after
    the cells it depends on."""
    cells = []
    methods = (DENSE, *opts.methods)
    for seed in range(opts.source_seeds):
        for pretraining in opts.robust:
            cells.append(Cell("pretrain", pretraining, seed))
            cells += [Cell("draw", pretraining, seed, m) for m in opts.arm_draws(pretraining)]
            for method in methods:
                for sparsity in (0.0,) if method == DENSE else sorted(opts.sparsities):
                    cells += [Cell("eval", pretraining, seed, method, sparsity, mode) for mode in opts.modes]
    return cells


@contextmanager
def cell_threads(cores: int):
    """One thread count for torch and for numpy's BLAS in every cell: reductions split over a
    different number of threads round differently (measured: 10 SGD steps of resnet18-cifar
    give different weights on 1 and 2 threads), and a cell must give the same numbers on a
    cluster as serially."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(cores)
    try:
        with threadpool_limits(limits=cores):
            yield
    finally:
        torch.set_num_threads(before)


def execute(opts: StudyOptions, cell: Cell, *deps, log: Callable[[str], None] = lambda _m: None):
    """Run one cell (on a worker or here). Its outputs are written under the study folder by
    the stages' atomic writers, so a cell killed midway leaves nothing another attempt uses."""
    work = Path(opts.output) / f"work-{opts.key()}"
    with cell_threads(opts.cores):
        if cell.kind == "pretrain":
            return pretrained_source(opts, cell.pretraining, cell.seed, log)
        if cell.kind == "draw":
            (ckpt, _record), *donor = deps
            return draw_method(opts, cell.method, cell.pretraining, ckpt, cell.seed, work, log, *donor)
        return _evaluate(opts, cell, work, Runs(work / "runs"), *deps)


def _evaluate(opts: StudyOptions, cell: Cell, work: Path, runs, drawn: dict, omp_drawn: dict | None = None) -> dict:
    ticket = drawn[cell.sparsity]
    ticket_id = hashlib.sha256((ticket / TICKET_FILE).read_bytes()).hexdigest()[:12]
    # keyed by the ticket's own record, so a redrawn ticket is evaluated again
    key = f"{ticket.relative_to(work / 'tickets')}-{ticket_id}-{cell.mode}".replace("/", "_")
    record = runs.get(key)
    if record is not None:  # another label may draw the same ticket in this arm (aimp/imp and imp)
        record = {**record, "method": cell.method}
    else:
        omp = (omp_drawn or (drawn if cell.method == OVERLAP_REFERENCE else {})).get(cell.sparsity)
        figures = {} if cell.method == DENSE else draw_figures(ticket, omp)
        record = {"pretraining": cell.pretraining, "method": cell.method, "sparsity": cell.sparsity,
                  "mode": cell.mode, "source_seed": cell.seed, "ticket": str(ticket.relative_to(opts.output)),
                  **figures, **evaluate_transfer(opts, cell.mode, ticket, cell.seed, work)}
        runs.put(key, record)
    return record


def run_cells(opts: StudyOptions, cells: list[Cell], client=None,
              on_done: Callable[[Cell, object], None] = lambda _c, _r: None,
              log: Callable[[str], None] = lambda _m: None) -> dict[Cell, object]:
    """Every cell's result. Serially in plan order; on a cluster all at once, with dask
    dependencies and priorities in plan order (the stages' own messages stay on the workers).
    Raises the first failed cell's error after the
    others have finished (what finished is kept for the rerun)."""
    if client is None:
        results = {}
        for cell in cells:
            results[cell] = execute(opts, cell, *(results[d] for d in cell.deps(opts)), log=log)
            on_done(cell, results[cell])
        return results
    from distributed import KilledWorker

    token = f"{opts.key()}-{time.time_ns()}"
    futures = {}
    for index, cell in enumerate(cells):
        futures[cell] = client.submit(execute, opts, cell, *(futures[d] for d in cell.deps(opts)),
                                      key=f"{cell.name}-{token}", priority=-index, pure=False)
    by_name = {cell.name: cell for cell in cells}

    def finished(name: str, future) -> None:
        if future.status == "finished":
            on_done(by_name[name], future.result())

    failed = follow(client, {cell.name: f for cell, f in futures.items()}, finished, desc="study cells")
    try:
        return {cell: future.result() for cell, future in futures.items()}
    except KilledWorker as exc:
        raise ClusterError(f"{exc} ({failed} of {len(cells)} cells failed); the finished cells are kept under "
                           f"{opts.output}: rerun the same command to resume") from None
