"""How every benchmark times: steps interleaved in rounds, min / median / max, ratios.

A figure and its baseline are timed in the same run, in rounds (A B A B ...) rather than
in blocks, so that a machine that slows down or speeds up during the run weighs on both
alike. Each step may reset its state before it runs and check its result after it ran,
both untimed: a time counts only once its result checked out. The ratio to the baseline
is the median of the per-round ratios.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Action = Callable[[], Any]


@dataclass(frozen=True)
class Step:
    """One timed action; `reset` runs before it and `check(result)` after it, untimed."""

    run: Action
    reset: Action | None = None
    check: Callable[[Any], object] | None = None


@dataclass(frozen=True)
class Timing:
    """Minimum, median and maximum of several runs (seconds, or a ratio)."""

    min: float
    median: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Timing:
        """The Timing of measured samples."""
        if not samples:
            raise ValueError("no samples")
        return cls(min(samples), statistics.median(samples), max(samples))

    def scaled(self, factor: float) -> Timing:
        """Every figure times `factor` (e.g. a total divided by a count)."""
        return Timing(self.min * factor, self.median * factor, self.max * factor)

    def cell(self, scale: float = 1000, digits: int = 0) -> str:
        """`min / median / max`, in milliseconds by default."""
        return " / ".join(
            f"{value * scale:,.{digits}f}" for value in (self.min, self.median, self.max)
        )


@dataclass(frozen=True)
class Pair:
    """A figure and its baseline, timed in the same rounds."""

    subject: Timing
    baseline: Timing
    ratios: Timing
    """subject / baseline, round by round."""

    @property
    def ratio(self) -> float:
        """The median of the per-round ratios."""
        return self.ratios.median

    def ratio_cell(self) -> str:
        """The median ratio, e.g. `1.32x`."""
        return f"{self.ratio:.2f}x"


def pair_of(subject: Sequence[float], baseline: Sequence[float]) -> Pair:
    """The Pair of per-round samples (same length, same rounds)."""
    if len(subject) != len(baseline):
        raise ValueError("subject and baseline need the same rounds")
    ratios = [a / b for a, b in zip(subject, baseline, strict=True)]
    return Pair(Timing.of(subject), Timing.of(baseline), Timing.of(ratios))


def as_step(step: Step | Action) -> Step:
    """A Step, from a Step or a bare action."""
    return step if isinstance(step, Step) else Step(step)


def timed(step: Step | Action, *, sync: bool = False) -> float:
    """Seconds one run of `step` takes: reset, (sync), run timed, then check."""
    step = as_step(step)
    if step.reset is not None:
        step.reset()
    if sync:
        os.sync()
    started = time.perf_counter()
    result = step.run()
    seconds = time.perf_counter() - started
    if step.check is not None:
        step.check(result)
    return seconds


def rounds(
    steps: Mapping[str, Step | Action], runs: int, *, warmup: int = 1, sync: bool = False
) -> dict[str, list[float]]:
    """Run every step once per round, in order; each step's seconds in the timed rounds.

    `warmup` untimed rounds come first. `sync`: flush the disk (os.sync) before each step.
    """
    if runs < 1:
        raise ValueError("runs must be at least 1")
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for index in range(warmup + runs):
        for name, step in steps.items():
            seconds = timed(step, sync=sync)
            if index >= warmup:
                samples[name].append(seconds)
    return samples


def interleaved(
    subject: Step | Action,
    baseline: Step | Action,
    runs: int,
    *,
    warmup: int = 1,
    sync: bool = False,
) -> Pair:
    """Time `subject` and `baseline` in alternation (A B A B ...), `runs` pairs."""
    samples = rounds({"a": subject, "b": baseline}, runs, warmup=warmup, sync=sync)
    return pair_of(samples["a"], samples["b"])


def measure(step: Step | Action, runs: int, *, warmup: int = 1, sync: bool = False) -> Timing:
    """Time one step with no baseline, `runs` times after `warmup` untimed runs."""
    return Timing.of(rounds({"a": step}, runs, warmup=warmup, sync=sync)["a"])
