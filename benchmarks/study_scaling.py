"""How a study's wall time would scale with N workers, from one finished run's measured cells.

Reads a study.json (its pretraining and evaluation cells' own seconds), prints the per-cell
time distribution, then replays the cell graph on N workers the way the dask scheduler runs
it: each pretraining before its evaluations, ready cells taken in plan order (seed-major), one
cell per worker at a time. Draws are left out (OMP draws in well under a second). The replay
assumes cells do not slow each other down, which holds for workers on separate machines.

    python benchmarks/study_scaling.py benchmarks/results/study_default.json --workers 1,2,4,8,16
"""

from __future__ import annotations

import argparse
import heapq
import json
import statistics


def cells(payload: dict) -> list[tuple[tuple, float, tuple | None]]:
    """(name, seconds, dependency) in plan order."""
    out = []
    for source in sorted(payload["pretrained"], key=lambda s: (s["source_seed"], s["pretraining"])):
        key = ("pretrain", source["pretraining"], source["source_seed"])
        out.append((key, source["seconds"], None))
        out += [(("eval", r["pretraining"], r["source_seed"], r["method"], r["sparsity"], r["mode"]), r["seconds"], key)
                for r in payload["runs"] if (r["pretraining"], r["source_seed"]) == key[1:]]
    return out


def replay(graph, workers: int) -> float:
    """Greedy list scheduling: whenever a worker frees, it takes the first cell in plan order
    whose dependency has finished (waiting for the earliest one if none has)."""
    finished: dict = {}
    free = [0.0] * workers  # when each worker is next idle
    pending = list(graph)
    while pending:
        now = heapq.heappop(free)
        ready = [c for c in pending if c[2] is None or finished.get(c[2], float("inf")) <= now]
        if not ready:  # every pretraining has started: wait for the first one to end
            now = min(finished[c[2]] for c in pending)
            ready = [c for c in pending if finished[c[2]] <= now]
        name, seconds, _ = ready[0]
        finished[name] = now + seconds
        heapq.heappush(free, finished[name])
        pending.remove(ready[0])
    return max(finished.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_json")
    parser.add_argument("--workers", default="1,2,4,8,16")
    args = parser.parse_args()
    payload = json.loads(open(args.study_json).read())
    graph = cells(payload)
    kinds: dict = {}
    for name, seconds, _ in graph:
        kind = f"pretrain {name[1]}" if name[0] == "pretrain" else f"{name[-1]} transfer"
        kinds.setdefault(kind, []).append(seconds)
    print(f"{args.study_json}: {len(graph)} cells, {payload['seconds'] / 60:.1f} min wall as run "
          f"({payload['settings'].get('cores') or 'all the'} core(s) per cell)")
    print(f"{'cell':18s} {'n':>3s} {'median s':>9s} {'min s':>7s} {'max s':>7s} {'sum min':>8s}")
    for kind, values in sorted(kinds.items()):
        print(f"{kind:18s} {len(values):3d} {statistics.median(values):9.1f} {min(values):7.1f} {max(values):7.1f} "
              f"{sum(values) / 60:8.1f}")
    total = sum(s for _, s, _ in graph)
    longest = max(s for _, s, dep in graph if dep is None)
    print(f"sum of cells {total / 60:.1f} min; longest pretraining {longest / 60:.1f} min")
    print(f"{'workers':>7s} {'replayed wall min':>18s} {'speedup':>8s}")
    one = replay(graph, 1)
    for n in (int(x) for x in args.workers.split(",")):
        wall = replay(graph, n)
        print(f"{n:7d} {wall / 60:18.1f} {one / wall:7.2f}x")


if __name__ == "__main__":
    main()
