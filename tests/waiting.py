"""Waiting in tests: on a condition, never for a fixed time.

`wait_until` polls a condition; its deadline is generous and only bounds a failure (a hung
process, a condition that never comes), so a slow or loaded machine passes, just later.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import pytest

DEADLINE = 300.0
"""Seconds after which a wait counts as failed: a bound on a hang, not an expected duration."""

POLL = 0.05
"""Seconds between two looks at the condition."""


def wait_until(condition: Callable[[], object], what: str, *, deadline: float = DEADLINE) -> None:
    """Return once `condition()` is true; fail the test, naming `what`, after `deadline`."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline:g} s waiting for {what}")
        time.sleep(POLL)


def terminate(process: subprocess.Popen[bytes] | None, *, grace: float = 10.0) -> None:
    """Stop a server the test started: SIGTERM, then SIGKILL after `grace` seconds."""
    if process is None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
