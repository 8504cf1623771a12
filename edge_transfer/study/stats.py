"""The statistics a study claim needs: a mean with its 95% confidence interval over
independent source seeds; the robust-minus-natural gap tested as the design has it, in pairs
(for source seed k the two arms share the initialisation, the batch order and the transfer
seed): the paired t-test with a sign-flip permutation p as a check; the interaction of that
gap with sparsity (the primary hypothesis: a slope per seed, tested across seeds); Holm's
correction over the per-cell gaps; Welch's unpaired test, kept for comparison; and a nested
bootstrap (seeds, then validation images inside each seed) whose interval also carries the
validation set's sampling error."""

from __future__ import annotations

import math
from dataclasses import dataclass

LEVEL = 0.95
MIN_SOURCE_SEEDS = 3  # fewer independent pretrainings per arm: no claim either way


def _variance(values: list[float]) -> float:
    """Sample variance (n - 1)."""
    mean = math.fsum(values) / len(values)
    return math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)


def mean_ci(values: list[float]) -> tuple[float, float | None]:
    """Mean and the half-width of its t interval (None with one value: no interval)."""
    from scipy import stats

    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, None
    sd = math.sqrt(_variance(values))
    return mean, float(stats.t.ppf(0.5 + LEVEL / 2, n - 1) * sd / math.sqrt(n))


@dataclass
class Gap:
    diff: float  # mean(a) - mean(b)
    low: float | None  # 95% interval of the difference (Welch-Satterthwaite)
    high: float | None
    p: float | None  # two-sided t-test (paired, or Welch's for ``welch``)
    p_holm: float | None = None
    p_perm: float | None = None  # paired: the sign-flip permutation p (exact up to EXACT_FLIPS pairs)
    n: int = 0  # pairs (paired) or the smaller arm (welch)


def excludes_zero(low: float | None, high: float | None) -> bool:
    """Whether an interval (None: there is none) lies wholly on one side of 0."""
    return low is not None and (low > 0 or high < 0)


def welch(a: list[float], b: list[float]) -> Gap:
    """The gap mean(a) - mean(b) with Welch's interval and test; undefined below 2 values per
    side, and a gap of two constant samples is exact (p 0 when they differ, 1 when not)."""
    from scipy import stats

    diff = math.fsum(a) / len(a) - math.fsum(b) / len(b)
    n = min(len(a), len(b))
    if n < 2:
        return Gap(diff, None, None, None, n=n)
    va, vb = (_variance(x) / len(x) for x in (a, b))
    se = math.sqrt(va + vb)
    if se == 0:
        return Gap(diff, diff, diff, 0.0 if diff else 1.0, n=n)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, df)) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return Gap(diff, diff - half, diff + half, p, n=n)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order (monotone, capped at 1)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


EXACT_FLIPS = 12  # up to 2**12 sign assignments enumerated; beyond, RANDOM_FLIPS seeded draws
RANDOM_FLIPS = 20_000


def one_sample(values: list[float]) -> Gap:
    """The mean of ``values`` (per-seed differences) with its t interval, the two-sided t-test
    of mean 0 and the sign-flip permutation p; undefined below 2 values, and exact (p 0 or 1)
    when every value is the same."""
    from scipy import stats

    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return Gap(mean, None, None, None, n=n)
    se = math.sqrt(_variance(values) / n)
    if se == 0:
        return Gap(mean, mean, mean, 0.0 if mean else 1.0, p_perm=sign_flip_p(values), n=n)
    half = float(stats.t.ppf(0.5 + LEVEL / 2, n - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return Gap(mean, mean - half, mean + half, p, p_perm=sign_flip_p(values), n=n)


def paired(a: list[float], b: list[float]) -> Gap:
    """The gap mean(a - b) over pairs (a[i], b[i]) that share a source seed: the paired t-test."""
    if len(a) != len(b):
        raise ValueError(f"paired arms need one value each per pair, got {len(a)} and {len(b)}")
    return one_sample([x - y for x, y in zip(a, b)])


def sign_flip_p(diffs: list[float]) -> float:
    """Two-sided permutation p of mean(diffs) = 0: under the null each pair's difference is as
    likely negative as positive, so every assignment of signs is equally likely; p is the share
    of assignments whose |mean| is at least the observed one."""
    import itertools
    import random

    observed = abs(math.fsum(diffs)) - 1e-12 * max(1.0, sum(abs(d) for d in diffs))
    if len(diffs) <= EXACT_FLIPS:
        signs = itertools.product((1, -1), repeat=len(diffs))
        hits = total = 0
        for s in signs:
            total += 1
            hits += abs(math.fsum(x * d for x, d in zip(s, diffs))) >= observed
        return hits / total
    rng = random.Random(0)
    hits = sum(abs(math.fsum(d if rng.random() < 0.5 else -d for d in diffs)) >= observed for _ in range(RANDOM_FLIPS))
    return (hits + 1) / (RANDOM_FLIPS + 1)


def slope(xs: list[float], ys: list[float]) -> float:
    """The least-squares slope of ys on xs."""
    mx, my = math.fsum(xs) / len(xs), math.fsum(ys) / len(ys)
    return math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.fsum((x - mx) ** 2 for x in xs)


@dataclass
class Interaction:
    """How the robust-minus-natural gap changes with sparsity, from per-seed paired differences."""

    per_sparsity: dict  # sparsity -> Gap of the per-seed differences at that sparsity
    slope: Gap | None  # per-seed least-squares slope over the sparsities (per unit sparsity), tested across seeds


def interaction(diffs: dict) -> Interaction:
    """``diffs``: {source seed: {sparsity: robust-minus-natural difference}}. Each sparsity's
    differences are tested as one paired sample; the slope is fitted per seed (over the seeds
    that have every sparsity) and the slopes tested across seeds, so the replicate stays the
    source seed."""
    sparsities = sorted({s for row in diffs.values() for s in row})
    per = {s: one_sample([row[s] for row in diffs.values() if s in row]) for s in sparsities}
    complete = [row for row in diffs.values() if all(s in row for s in sparsities)]
    fitted = one_sample([slope(sparsities, [row[s] for s in sparsities]) for row in complete]) \
        if len(sparsities) >= 2 and complete else None
    return Interaction(per, fitted)


BOOTSTRAP_DRAWS = 2000


def nested_bootstrap(correct: dict, statistic, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> tuple[float, float]:
    """The percentile 95% interval of ``statistic`` when both sources of sampling error are
    redrawn: each draw resamples the source seeds with replacement, then, inside each drawn seed,
    its validation images with replacement. ``correct``: {source seed: bool array (cells x
    images), which images each cell got right}; one image draw serves every cell of a seed,
    because the arms are evaluated on the same images (paired on images as on seeds).
    ``statistic(rows)`` gets one accuracy vector (per cell) per drawn seed and returns a float."""
    import numpy as np

    rng = np.random.default_rng(seed)
    matrices = [np.asarray(m, dtype=np.float64) for m in correct.values()]
    picks = rng.integers(0, len(matrices), size=(draws, len(matrices)))  # the seeds each draw takes
    rows = [[None] * len(matrices) for _ in range(draws)]
    for j, matrix in enumerate(matrices):  # every image resampling of seed j at once
        where = np.argwhere(picks == j)
        n = matrix.shape[1]
        for chunk in np.array_split(where, max(1, len(where) * n // 2_000_000)):
            counts = rng.multinomial(n, np.full(n, 1.0 / n), size=len(chunk))
            for (i, position), accuracies in zip(chunk, counts @ matrix.T / n):
                rows[i][position] = accuracies
    values = np.array([statistic(r) for r in rows])
    # a draw whose statistic is undefined (a resampled dense model without error) is left out
    low, high = np.nanquantile(values, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    return float(low), float(high)
