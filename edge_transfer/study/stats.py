"""The statistics a study claim needs: a mean with its 95% confidence interval over
independent source seeds, Welch's test of a robust-minus-natural gap (unequal variances,
independent pretrainings), and Holm's correction over the cells a headline reports."""

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
    p: float | None  # two-sided Welch t-test
    p_holm: float | None = None


def excludes_zero(low: float | None, high: float | None) -> bool:
    """Whether an interval (None: there is none) lies wholly on one side of 0."""
    return low is not None and (low > 0 or high < 0)


def welch(a: list[float], b: list[float]) -> Gap:
    """The gap mean(a) - mean(b) with Welch's interval and test; undefined below 2 values per
    side, and a gap of two constant samples is exact (p 0 when they differ, 1 when not)."""
    from scipy import stats

    diff = math.fsum(a) / len(a) - math.fsum(b) / len(b)
    if len(a) < 2 or len(b) < 2:
        return Gap(diff, None, None, None)
    va, vb = (_variance(x) / len(x) for x in (a, b))
    se = math.sqrt(va + vb)
    if se == 0:
        return Gap(diff, diff, diff, 0.0 if diff else 1.0)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, df)) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return Gap(diff, diff - half, diff + half, p)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order (monotone, capped at 1)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted
