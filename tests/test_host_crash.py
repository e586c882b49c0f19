"""Crash safety of the local host's install, and refusals of `powerx host` at start.

`powerx plugin install` stops at a stage when `POWERX_TEST_PAUSE_AT=<stage>` is set (the test
seam of pipeline/cli/agent.py, with the stages of pipeline.host.install.PAUSE_STAGES): it
says so on stderr and waits, and the test kills it there with SIGKILL. The store must then
hold exactly one whole active version (the old one, or the new one once switched), and the
next install must complete. Every wait is on a condition (a line on stderr, a process exit).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostplugins import BIN, ServerProcess, fetch, run, write_plugin
from test_host_dev import PLUGIN, active_greeting, plugin_processes
from waiting import wait_until

from pipeline.host.install import PAUSE_STAGES


def start_paused(folder: Path, store: Path, stage: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERX_")}
    env |= {"POWERX_TEST_PAUSE_AT": stage, "POWERX_TEST_PAUSE_SECONDS": "3600"}
    argv = ["plugin", "install", "--from", str(folder), "--plugin-store", str(store)]
    return subprocess.Popen(
        [str(BIN / "powerx"), *argv, "--grant-declared"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when_paused(process: subprocess.Popen[str], stage: str) -> None:
    assert process.stderr is not None
    line = process.stderr.readline()  # the pause is announced before the wait begins
    assert f"paused at {stage}" in line, line + process.stderr.read()
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL


def install_json(folder: Path, store: Path) -> dict[str, object]:
    argv = ["powerx", "plugin", "install", "--from", str(folder), "--plugin-store", str(store)]
    result = run([*argv, "--grant-declared", "--format", "json"])
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def assert_one_whole_active_version(store: Path) -> Path:
    """`active/` holds one link, to an installed version whose files match its checksums."""
    active = store / "active"
    assert sorted(p.name for p in active.iterdir()) == [PLUGIN]
    target = (active / PLUGIN).resolve()
    assert target.parent == (store / "plugins" / PLUGIN).resolve()
    listed: dict[str, str] = {}
    for line in (target / "checksums.txt").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name] = digest
    present = {
        path.relative_to(target).as_posix()
        for path in target.rglob("*")
        if path.is_file() and path.name != "checksums.txt" and "__pycache__" not in path.parts
    }  # (python3 writes __pycache__ beside the modules when the check runs the plugin)
    assert present == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((target / name).read_bytes()).hexdigest() == digest, name
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(store, revision): a store where the plugin greeting 'Old' is installed and active."""
    root = tmp_path_factory.mktemp("installed")
    store = root / "store"
    old = install_json(write_plugin(root, greeting="Old"), store)
    return store, str(old["revision"])


@pytest.fixture
def upgrade(tmp_path: Path, installed: tuple[Path, str]) -> Iterator[tuple[Path, Path, str]]:
    """(plugin folder, store, old revision): a copy of `installed`, and sources saying 'New'."""
    store = tmp_path / "store"
    shutil.copytree(installed[0], store, symlinks=True)
    folder = write_plugin(tmp_path, greeting="New")  # no dist/ yet: the next install builds
    yield folder, store, installed[1]
    assert plugin_processes(store) == {}  # nothing of the plugin outlives a test


@pytest.mark.parametrize("stage", PAUSE_STAGES)
def test_kill_9_of_an_install_at_any_stage_leaves_one_whole_version_and_rerun_completes(
    upgrade: tuple[Path, Path, str], stage: str
) -> None:
    folder, store, old = upgrade
    kill_when_paused(start_paused(folder, store, stage), stage)

    switched = stage == "switched"
    assert_one_whole_active_version(store)
    assert active_greeting(store) == ("New" if switched else "Old")
    assert plugin_processes(store) == {}  # the check's instance did not outlive the kill

    again = install_json(folder, store)
    new = str(again["revision"])
    assert new != old
    assert again["previous"] == (new if switched else old)
    assert_one_whole_active_version(store)
    assert active_greeting(store) == "New"
    assert list((store / "staging").iterdir()) == []
    assert list((store / "plugins" / PLUGIN).glob(".*")) == []


def test_a_running_host_follows_an_install_killed_after_the_switch(
    upgrade: tuple[Path, Path, str],
) -> None:
    folder, store, _old = upgrade
    argv = ["powerx", "host", "--plugin-store", str(store), "--port", "0"]
    with ServerProcess(argv) as host:
        host.wait_for("following the store")
        page = f"{host.url}/t/dev/p/{PLUGIN}/"
        assert fetch(page)[1].decode().startswith("Old, dev!")
        kill_when_paused(start_paused(folder, store, "switched"), "switched")

        def serves_new() -> bool:
            status, body = fetch(page)
            return status == 200 and body.decode().startswith("New, dev!")

        wait_until(serves_new, "the host to serve the version the killed install switched to")
        assert host.state("dev", PLUGIN) == "running"
        assert host.process is not None and host.process.poll() is None
        assert host.interrupt() == 0, host.output


def listening_socket() -> socket.socket:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    return taken


def test_a_taken_port_is_refused_with_exit_2_naming_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    granted = run(["powerx", "plugin", "grant", PLUGIN, "tenant-data:read", "--store", str(store)])
    assert granted.returncode == 0, granted.stderr
    folder = write_plugin(tmp_path)
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        host = run(["powerx", "host", "--plugin-store", str(store), "--port", str(port)])
        dev_store = tmp_path / "dev-store"
        dev = run(["px-plugin", "dev", str(folder), "--store", str(dev_store), "--port", str(port)])
    for result in (host, dev):
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    assert not (dev_store / "tenants").exists()  # refused before anything was written
    assert not (folder / "dist").exists()


def test_an_unknown_tenant_is_refused_with_did_you_mean(tmp_path: Path) -> None:
    store = tmp_path / "store"
    granted = run(["powerx", "plugin", "grant", PLUGIN, "tenant-data:read", "--store", str(store)])
    assert granted.returncode == 0, granted.stderr
    result = run(["powerx", "host", "--plugin-store", str(store), "--tenant", "devv"])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "there is no tenant 'devv'" in result.stderr
    assert "did you mean 'dev'?" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert list((store / "tenants").iterdir()) == [store / "tenants" / "dev"]
