"""Benchmark CLI start-up: `powerx --version`, `powerx --help` and `px-plugin --help`
against `python -c pass` with the same interpreter.

Pairs are interleaved (pass, command, pass, command, ...) so a busy machine weighs on both
sides alike; each run checks the command's exit code and output before its time counts.
Prints min / median / max in milliseconds and the ratio of the medians (and of the minima)
to `python -c pass`; issue 11's target is < 0.1 s and < 5x.

    .venv/bin/python bench/startup_bench.py [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
BASELINE = [sys.executable, "-c", "pass"]
COMMANDS = {
    "powerx --version": ([str(BIN / "powerx"), "--version"], "powerx, version "),
    "powerx --help": ([str(BIN / "powerx"), "--help"], "Usage: powerx "),
    "px-plugin --help": ([str(BIN / "px-plugin"), "--help"], "Usage: px-plugin "),
}


@dataclass(frozen=True)
class Figures:
    """Min, median and max wall-clock seconds."""

    low: float
    median: float
    high: float

    @classmethod
    def of(cls, times: list[float]) -> Figures:
        return cls(min(times), statistics.median(times), max(times))

    def cell(self) -> str:
        return f"{self.low * 1000:6.1f} / {self.median * 1000:6.1f} / {self.high * 1000:6.1f}"


def timed(argv: list[str], expect: str | None) -> float:
    """Seconds one run takes; the run must succeed and say what is expected."""
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or (expect is not None and not result.stdout.startswith(expect)):
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return elapsed


def compare(argv: list[str], expect: str, runs: int) -> tuple[Figures, Figures]:
    """(baseline, command) figures over `runs` interleaved pairs, after one warm-up pair."""
    base: list[float] = []
    command: list[float] = []
    for run in range(runs + 1):
        pair = (timed(BASELINE, None), timed(argv, expect))
        if run:
            base.append(pair[0])
            command.append(pair[1])
    return Figures.of(base), Figures.of(command)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="interleaved pairs per command")
    parser.add_argument("--quick", action="store_true", help="5 pairs per command")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    print(f"Python {sys.version.split()[0]}, {runs} interleaved pairs per command")
    print(f"{'command':<18} {'python -c pass (ms)':>24} {'command (ms)':>24}  ratio median / min")
    print(f"{'':<18} {'min / median / max':>24} {'min / median / max':>24}")
    for name, (argv, expect) in COMMANDS.items():
        base, command = compare(argv, expect, runs)
        print(
            f"{name:<18} {base.cell():>24} {command.cell():>24}  "
            f"{command.median / base.median:4.1f}x / {command.low / base.low:4.1f}x"
        )


if __name__ == "__main__":
    main()
