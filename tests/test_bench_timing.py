"""bench/timing.py: rounds interleave the steps, reset and check around each, untimed."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
timing = importlib.import_module("timing")  # bench/ is scripts, not a package
Step, Timing, interleaved = timing.Step, timing.Timing, timing.interleaved
pair_of, rounds = timing.pair_of, timing.rounds


def test_rounds_interleave_steps_after_a_warm_up_with_reset_and_check_around_each() -> None:
    calls: list[str] = []

    def step(name: str) -> object:
        def run() -> str:
            calls.append(f"run {name}")
            return name

        return Step(
            run=run,
            reset=lambda: calls.append(f"reset {name}"),
            check=lambda result: calls.append(f"check {result}"),
        )

    samples = rounds({"a": step("a"), "b": step("b")}, runs=2, warmup=1)

    one_round = ["reset a", "run a", "check a", "reset b", "run b", "check b"]
    assert calls == one_round * 3
    assert [len(samples["a"]), len(samples["b"])] == [2, 2]
    assert all(seconds >= 0 for seconds in samples["a"] + samples["b"])


def test_a_failed_check_stops_the_benchmark_before_its_time_counts() -> None:
    def refuse(result: object) -> None:
        raise AssertionError(f"wrong result {result}")

    with pytest.raises(AssertionError, match="wrong result 3"):
        interleaved(lambda: 1, Step(run=lambda: 3, check=refuse), runs=3)


def test_the_ratio_is_the_median_of_per_round_ratios() -> None:
    pair = pair_of([2.0, 3.0, 10.0], [1.0, 1.0, 1.0])

    assert pair.subject == Timing(2.0, 3.0, 10.0)
    assert pair.ratios == Timing(2.0, 3.0, 10.0)
    assert pair.ratio_cell() == "3.00x"
    assert pair_of([4.0, 4.0], [1.0, 4.0]).ratio == 2.5
    assert Timing(0.0012, 0.0025, 0.01).cell() == "1 / 2 / 10"
    with pytest.raises(ValueError, match="same rounds"):
        pair_of([1.0], [1.0, 2.0])
