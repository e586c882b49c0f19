"""A 200 MB package goes through the real registry with flat memory (push and pull).

The transfer runs in a child process that reports its peak RSS (`VmHWM`) after a small
warm-up transfer, after the push and after the pull: growth must stay far below the size.
The peak is reset first (`5 > /proc/self/clear_refs`): a child inherits its parent's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import PROJECT
from registry import Registry, make_package

SIZE = 200 * 1024 * 1024
FLAT = 48 * 1024 * 1024
"""Allowed peak RSS growth: chunked I/O (1 MiB reads, httpx buffers), not the package."""

CHILD = """
import json, sys, time
from pathlib import Path
from pipeline.store import store_for

def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no VmHWM")

Path("/proc/self/clear_refs").write_text("5")

location, small, big, out = sys.argv[1:5]
store = store_for(location)
warm = store.put(Path(small))
store.fetch(warm.uri, warm.sha256, warm.size, Path(out) / "small.pxp")
before, started = peak(), time.monotonic()
stored = store.put(Path(big))
pushed, push_seconds = peak(), time.monotonic() - started
store.fetch(stored.uri, stored.sha256, stored.size, Path(out) / "big.pxp")
pulled, pull_seconds = peak(), time.monotonic() - started - push_seconds
report = {"before": before, "push": pushed, "pull": pulled, "size": stored.size}
print(json.dumps({**report, "seconds": [push_seconds, pull_seconds]}))
"""


def test_push_and_pull_of_200_mb_keep_memory_flat(registry: Registry, tmp_path: Path) -> None:
    small = make_package(tmp_path / "small", "warm", "1.0.0", padding=4 * 1024 * 1024)
    big = make_package(tmp_path / "big", "big", "1.0.0", padding=SIZE)
    out = tmp_path / "out"
    out.mkdir()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            registry.location("px/memory"),
            str(small),
            str(big),
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    seconds = report.pop("seconds")
    print(f"peak RSS (MiB): { {k: round(v / 2**20, 1) for k, v in report.items()} }")
    print(f"push {seconds[0]:.1f} s, pull {seconds[1]:.1f} s (single run, shared machine)")
    assert report["size"] > SIZE
    assert (out / "big.pxp").stat().st_size == report["size"]
    assert report["push"] - report["before"] < FLAT, report
    assert report["pull"] - report["before"] < FLAT, report
