"""Each unit's sparsity for a speed target: dynamic programming over the profile's grid
(SPDY's formulation): minimise the summed cost of the choices subject to the predicted time
fitting the budget. Times are rounded up onto a fine grid, so a choice the program accepts
is never predicted slower than the budget."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .record import SpeedProfile

RESOLUTION = 4000  # time steps across the budget: the rounding costs at most 1/RESOLUTION of it per unit


class UnreachableTarget(ValueError):
    """The target is faster than every unit at the profile's highest sparsity."""

    def __init__(self, best_speedup: float):
        super().__init__(f"the profile's best is {best_speedup:.2f}x")
        self.best_speedup = best_speedup


@dataclass(frozen=True)
class Allocation:
    choice: tuple  # grid index per unit
    sparsity: dict  # layer -> sparsity
    cost: float
    predicted_ms: float
    dense_ms: float

    @property
    def predicted_speedup(self) -> float:
        return self.dense_ms / self.predicted_ms


def allocate(profile: SpeedProfile, costs: list[list[float]], target_speedup: float) -> Allocation:
    """``costs[i][j]``: the cost of unit i at grid point j (sensitivity, or weight magnitude
    removed); the cheapest choice whose predicted time is at most dense / ``target_speedup``."""
    import numpy as np

    units, grid = profile.units, profile.grid
    budget = profile.dense_ms / target_speedup - profile.fixed_mean_ms
    if budget <= 0 or profile.fastest_ms - profile.fixed_mean_ms > budget * (1 + 1e-12):
        raise UnreachableTarget(profile.dense_ms / profile.fastest_ms)
    step = budget / RESOLUTION
    steps = [[math.ceil(t / step - 1e-9) for t in u["ms"]] for u in units]
    # best[b]: least cost of the units so far within b steps of time; inf if none
    best = np.zeros(RESOLUTION + 1)
    picks = []
    for i in range(len(units)):
        nxt = np.full(RESOLUTION + 1, np.inf)
        pick = np.full(RESOLUTION + 1, -1, dtype=np.int64)
        for j, s in enumerate(steps[i]):
            if s > RESOLUTION:
                continue
            shifted = np.full(RESOLUTION + 1, np.inf)
            shifted[s:] = best[: RESOLUTION + 1 - s] + costs[i][j]
            better = shifted < nxt
            nxt[better], pick[better] = shifted[better], j
        best, picks = nxt, picks + [pick]
    if np.isfinite(best[RESOLUTION]):
        choice, b = [], RESOLUTION
        for i in reversed(range(len(units))):
            j = int(picks[i][b])
            choice.append(j)
            b -= steps[i][j]
        choice.reverse()
    else:  # a target at the very edge, lost to rounding: only every unit at its fastest meets it
        choice = [min(range(len(grid)), key=lambda j, i=i: (units[i]["ms"][j], costs[i][j])) for i in range(len(units))]
    sparsity = {name: float(grid[j]) for u, j in zip(units, choice) for name in u["layers"]}
    return Allocation(tuple(choice), sparsity, float(sum(costs[i][j] for i, j in enumerate(choice))),
                      profile.predicted_ms(choice), profile.dense_ms)
