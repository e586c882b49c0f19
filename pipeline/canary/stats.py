"""Statistics for canary analysis: finite-sample filtering, means and the Mann-Whitney U test.

The test is two-sided. For small samples without ties the p-value is exact (the null
distribution of U counted by recursion); otherwise it uses the normal approximation with
the tie correction of the variance and a continuity correction, as SciPy's
`mannwhitneyu(..., method="asymptotic")` does.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

EXACT_LIMIT = 25
"""Both samples at most this large and no ties: the exact distribution is used."""


@dataclass(frozen=True)
class Finite:
    """The finite values of a sample, and how many NaN/Inf values were dropped."""

    values: tuple[float, ...]
    dropped: int


def finite(samples: Iterable[float]) -> Finite:
    """Split off NaN and +-Inf: they carry no magnitude, and the caller must report them."""
    everything = list(samples)
    values = tuple(float(value) for value in everything if math.isfinite(value))
    return Finite(values, len(everything) - len(values))


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean (math.fsum, so long samples do not lose precision)."""
    if not values:
        raise ValueError("mean of no values")
    return math.fsum(values) / len(values)


@dataclass(frozen=True)
class MannWhitney:
    """The result of a two-sided Mann-Whitney U test of sample x against sample y."""

    u: float
    """U of x: how often a value of x beats a value of y (ties count one half)."""
    p_value: float
    method: Literal["exact", "normal"]


def tie_sizes(values: Iterable[float]) -> list[int]:
    """The sizes of the groups of equal values (only groups of two or more)."""
    return sorted(count for count in Counter(values).values() if count > 1)


def u_statistic(x: Sequence[float], y: Sequence[float]) -> float:
    """U of x: pairs with x_i > y_j, ties counting one half (= rank sum of x - n_x(n_x+1)/2)."""
    ys = sorted(y)
    total = 0.0
    for value in x:
        below = bisect.bisect_left(ys, value)
        total += below + (bisect.bisect_right(ys, value, lo=below) - below) / 2
    return total


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U test: do x and y come from the same distribution?"""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("the Mann-Whitney U test needs at least one value on each side")
    u1 = u_statistic(x, y)
    ties = tie_sizes([*x, *y])
    if not ties and n1 <= EXACT_LIMIT and n2 <= EXACT_LIMIT:
        return MannWhitney(u1, _exact_p(round(u1), n1, n2), "exact")
    return MannWhitney(u1, _normal_p(u1, n1, n2, ties), "normal")


def _normal_p(u1: float, n1: int, n2: int, ties: list[int]) -> float:
    n = n1 + n2
    mu = n1 * n2 / 2
    tie_term = sum(t**3 - t for t in ties) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12 * ((n + 1) - tie_term)
    if variance <= 0:
        return 1.0  # every value is the same: no evidence of any difference
    z = max(abs(u1 - mu) - 0.5, 0.0) / math.sqrt(variance)
    return min(1.0, math.erfc(z / math.sqrt(2)))


def _exact_p(u1: int, n1: int, n2: int) -> float:
    counts = _u_distribution(n1, n2)
    total = math.fsum(counts)
    u = max(u1, n1 * n2 - u1)  # the upper tail; the distribution is symmetric
    upper = math.fsum(counts[u:])
    return min(1.0, 2 * upper / total)


@lru_cache(maxsize=256)
def _u_distribution(n1: int, n2: int) -> tuple[int, ...]:
    """How many of the C(n1+n2, n1) orderings give U = 0, 1, ..., n1*n2 (no ties)."""
    # f(i, j)[u] = f(i-1, j)[u-j] + f(i, j-1)[u]: the largest value is an x (beating all j
    # y's) or a y (beating nothing).
    previous: list[list[int]] = [[1] for _ in range(n2 + 1)]  # i = 0: U is always 0
    for i in range(1, n1 + 1):
        current: list[list[int]] = [[1]]  # j = 0: U is always 0
        for j in range(1, n2 + 1):
            row = [0] * (i * j + 1)
            for u, count in enumerate(previous[j]):
                row[u + j] += count
            for u, count in enumerate(current[j - 1]):
                row[u] += count
            current.append(row)
        previous = current
    return tuple(previous[n2])
