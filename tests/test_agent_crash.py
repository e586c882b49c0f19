"""Crash safety and concurrency: real `powerx agent sync` processes, killed with SIGKILL.

The sync stops at a stage when `POWERX_TEST_PAUSE_AT=<stage>` is set (the test seam in
pipeline/cli/agent.py): it says so on stderr and waits, and the test kills it there (or lets
it go on with SIGUSR1). Every wait is on a condition (a line on stderr, a process exit);
timeouts only bound a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_agent_support import FAIL, Site, state

from pipeline.agent import PAUSE_STAGES, sync

POWERX = str(Path(sys.executable).parent / "powerx")


DEADLINE = 300
"""Seconds after which a process that should have finished counts as hung (a failure bound)."""


def start(site: Site, *, pause: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERX_")}
    if pause is not None:
        env |= {"POWERX_TEST_PAUSE_AT": pause, "POWERX_TEST_PAUSE_SECONDS": "3600"}
    return subprocess.Popen(
        [
            POWERX,
            "agent",
            "sync",
            "--env-dir",
            str(site.env_dir),
            "--plugin-store",
            str(site.store.root),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_paused(process: subprocess.Popen[str], stage: str) -> None:
    assert process.stderr is not None
    line = process.stderr.readline()
    assert f"paused at {stage}" in line, line + process.stderr.read()


def assert_whole(site: Site, name: str, versions: set[str]) -> None:
    """The host sees one whole, checked version through the active link."""
    link = site.store.active_link(name)
    assert site.active_version(name) in versions
    assert (link / "dist" / "main.py").is_file() and (link / "checksums.txt").is_file()


@pytest.fixture
def upgrading(tmp_path: Path) -> Site:
    """1.0.0 is installed and active; the environment now asks for 2.0.0."""
    site = Site(tmp_path)
    site.want("hello", "1.0.0")
    assert sync(site.env_dir, site.store).ok
    site.want("hello", "2.0.0")
    return site


@pytest.mark.parametrize("stage", PAUSE_STAGES)
def test_kill_at_any_stage_leaves_a_working_version_and_rerun_converges(
    upgrading: Site, stage: str
) -> None:
    site = upgrading
    process = start(site, pause=stage)
    wait_paused(process, stage)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=DEADLINE)
    assert_whole(site, "hello", {"1.0.0"} if stage != "switched" else {"2.0.0"})
    result = sync(site.env_dir, site.store)
    assert result.ok and result.plugin("hello").action == "installed"
    assert_whole(site, "hello", {"2.0.0"})
    assert not any(site.store.staging_dir.iterdir())
    assert not [p for p in site.store.active_dir.iterdir() if p.name.startswith(".")]
    status = site.store.read_status()
    assert status is not None and status.plugins["hello"].observed_version == "2.0.0"
    assert sync(site.env_dir, site.store).plugin("hello").action == "unchanged"


def test_kill_after_a_failed_check_keeps_the_old_version(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.want("hello", "1.0.0")
    sync(site.env_dir, site.store)
    bad = site.package("hello", "2.0.0", command=FAIL)
    site.write_state(state("hello", "2.0.0", bad))
    process = start(site, pause="checked")
    wait_paused(process, "checked")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=DEADLINE)
    assert_whole(site, "hello", {"1.0.0"})
    assert sync(site.env_dir, site.store).plugin("hello").action == "rolled-back"
    assert_whole(site, "hello", {"1.0.0"})


def test_a_switch_the_status_never_recorded_is_checked_again(upgrading: Site) -> None:
    """Killed right after the switch: the re-run re-checks 2.0.0; if it now fails, 1.0.0."""
    site = upgrading
    process = start(site, pause="switched")
    wait_paused(process, "switched")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=DEADLINE)
    assert site.active_version("hello") == "2.0.0"
    # the version that went live now fails its check: roll back to what the status last saw
    bad = site.package("hello", "2.0.0")
    folder = site.store.version_dir("hello", "2.0.0", bad)
    manifest = folder / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("sys.exit(0)", "sys.exit(3)"))
    outcome = sync(site.env_dir, site.store).plugin("hello")
    assert outcome.action == "rolled-back" and "exited 3" in outcome.message
    assert_whole(site, "hello", {"1.0.0"})


def test_concurrent_syncs_are_serialised(upgrading: Site) -> None:
    site = upgrading
    first = start(site, pause="checked")
    wait_paused(first, "checked")  # holds the lock, 2.0.0 checked but not active yet
    second = start(site)
    assert second.stderr is not None
    told = second.stderr.readline()  # returns once the second found the lock taken
    assert "waiting for another sync" in told, told + second.stderr.read()
    assert second.poll() is None  # and it waits: the first still holds the lock
    first.send_signal(signal.SIGUSR1)  # let the first finish
    out_first, err_first = first.communicate(timeout=DEADLINE)
    out_second, err_second = second.communicate(timeout=DEADLINE)
    assert (first.returncode, second.returncode) == (0, 0), err_first + err_second
    assert "installed    hello" in out_first
    assert "unchanged    hello" in out_second  # it ran after the first, which did the work
    assert_whole(site, "hello", {"2.0.0"})
