"""Mann-Whitney U against values worked out by hand and published critical-value tables."""

from __future__ import annotations

import math
import random

import pytest

from pipeline.canary.stats import finite, mann_whitney_u, mean, tie_sizes, u_statistic


def test_u_counts_ties_as_halves_and_tie_sizes_group_equal_values() -> None:
    assert u_statistic([3.0, 1.0], [3.0, 2.0, 0.0]) == 0.5 + 2 + 1
    assert tie_sizes([3.0, 1.0, 3.0, 2.0, 1.0, 1.0]) == [2, 3]


def test_finite_drops_nan_and_inf_and_counts_them() -> None:
    result = finite([1.0, math.nan, 2.0, math.inf, -math.inf])
    assert result.values == (1.0, 2.0) and result.dropped == 3


def test_mean_is_exact_for_long_sums() -> None:
    assert mean([0.1] * 10) == 0.1
    with pytest.raises(ValueError):
        mean([])


def test_complete_separation_of_five_and_five() -> None:
    # U = 0: only 1 of the C(10, 5) = 252 orderings is as extreme on each side.
    result = mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert (result.u, result.method) == (0, "exact")
    assert result.p_value == pytest.approx(2 / 252)


@pytest.mark.parametrize(
    ("x", "y", "u", "p"),
    [
        # n1 = n2 = 5: U <= 2 is significant at two-sided 0.05 (the published critical value
        # is 2). Orderings with U = 0, 1, 2, 3: 1, 1, 2, 3 -> p = 2 * cumulative / 252.
        ([1, 2, 3, 4, 7], [5, 6, 8, 9, 10], 2, 2 * 4 / 252),
        ([1, 2, 3, 4, 8], [5, 6, 7, 9, 10], 3, 2 * 7 / 252),
    ],
)
def test_published_critical_value_for_five_and_five(
    x: list[int], y: list[int], u: int, p: float
) -> None:
    result = mann_whitney_u(x, y)
    assert result.u == u
    assert result.p_value == pytest.approx(p)
    assert (result.p_value < 0.05) == (u <= 2)


def test_three_and_three_can_never_be_significant() -> None:
    # The smallest two-sided p with n1 = n2 = 3 is 2 / C(6, 3) = 0.1.
    assert mann_whitney_u([1, 2, 3], [4, 5, 6]).p_value == pytest.approx(0.1)


def test_the_test_is_symmetric() -> None:
    x, y = [1.0, 4.0, 2.5, 8.0], [3.0, 5.0, 6.0, 7.0, 9.0]
    forward, backward = mann_whitney_u(x, y), mann_whitney_u(y, x)
    assert forward.u + backward.u == len(x) * len(y)
    assert forward.p_value == pytest.approx(backward.p_value)


def test_ties_use_the_normal_approximation_with_tie_correction() -> None:
    # x = [1,1,2,2], y = [2,3,3,3]: ranks 1.5,1.5,4,4 | 4,7,7,7; U = 11 - 10 = 1, mu = 8;
    # tie groups of 2, 3, 3: sum(t^3 - t) = 54, sigma^2 = 16/12 * (9 - 54/56) = 10.714286;
    # z = (7 - 0.5) / 3.273268 = 1.985783; p = erfc(z / sqrt 2) = 0.047057 (SciPy agrees).
    result = mann_whitney_u([1, 1, 2, 2], [2, 3, 3, 3])
    assert (result.u, result.method) == (1, "normal")
    assert result.p_value == pytest.approx(0.047057, abs=1e-6)


def test_large_samples_use_the_normal_approximation() -> None:
    # 30 vs 30 with complete separation: U = 0, mu = 450, sigma^2 = 900 * 61 / 12 = 4575,
    # z = 449.5 / 67.6387 = 6.6456, p = erfc(z / sqrt 2) = 3.02e-11.
    result = mann_whitney_u(list(range(30)), list(range(30, 60)))
    assert (result.u, result.method) == (0, "normal")
    assert result.p_value == pytest.approx(3.02e-11, rel=0.01)


def test_all_values_equal_gives_no_evidence() -> None:
    result = mann_whitney_u([0.0] * 20, [0.0] * 40)
    assert (result.u, result.p_value) == (400, 1.0)


def test_identical_distributions_are_rarely_significant() -> None:
    rng = random.Random(3)
    significant = sum(
        mann_whitney_u(
            [rng.gauss(1, 0.1) for _ in range(30)], [rng.gauss(1, 0.1) for _ in range(30)]
        ).p_value
        < 0.05
        for _ in range(200)
    )
    assert significant <= 20  # about 5% expected


def test_empty_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        mann_whitney_u([], [1.0])
