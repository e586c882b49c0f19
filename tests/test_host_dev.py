"""`px-plugin dev`: a real dev loop process, real builds, real file-system events, real HTTP.

Each test runs `px-plugin dev DIR --plugin-store S --port 0`, edits the plugin folder as an
editor does (a whole file renamed into place), waits for the round's report line, and looks
at what the local host serves, at the JSONL log of the rounds and at the plugin's output of
each round. Ctrl-C must stop every plugin process and leave the last good build active.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

from hostplugins import ServerProcess, fetch, replace_file, set_greeting, write_plugin
from waiting import wait_until

PLUGIN = "tiny"
TENANT = "dev"
ACTIVE = re.compile(r"^#\d+ .*: active (?P<revision>.+) in [\d.]+ s \[(?P<steps>.*)\]$")
LAST_GOOD = "  serving last good: "
QUICK_HEALTH = 3
"""Seconds an unhealthy answer is retried before the health check fails."""


def start_dev(folder: Path, store: Path) -> ServerProcess:
    return ServerProcess(
        ["px-plugin", "dev", str(folder), "--plugin-store", str(store), "--port", "0"]
    )


def round_lines(dev: ServerProcess, number: int) -> list[str]:
    """What round `number` printed: its report line, and for a failure up to 'serving last good'."""
    head = f"#{number} "

    def lines() -> list[str] | None:
        printed = list(dev.lines)
        starts = [i for i, line in enumerate(printed) if line.startswith(head)]
        if not starts:
            return None
        shown = printed[starts[0] :]
        if ACTIVE.match(shown[0]) or "unchanged" in shown[0]:
            return shown[:1]
        ends = [i for i, line in enumerate(shown) if line.startswith(LAST_GOOD)]
        return shown[: ends[0] + 1] if ends else None

    def done() -> bool:
        assert dev.process is not None
        if lines() is None and dev.process.poll() is not None:
            raise AssertionError(f"px-plugin dev exited before round #{number}:\n{dev.output}")
        return lines() is not None

    wait_until(done, f"the report of round #{number} of px-plugin dev")
    found = lines()
    assert found is not None
    return found


def active(lines: list[str]) -> str:
    """The revision a round made active (the round must have succeeded)."""
    match = ACTIVE.match(lines[0])
    assert match is not None, "\n".join(lines)
    assert all(step in match["steps"] for step in ("build", "pack", "install", "start"))
    return match["revision"]


def failed(lines: list[str], label: str, serving: str) -> str:
    """The error a round printed; it must be `label` and keep `serving` served."""
    assert label in lines[0], "\n".join(lines)
    assert lines[-1] == f"{LAST_GOOD}{serving}"
    return "\n".join(lines[1:-1])


def page(dev: ServerProcess) -> str:
    status, body = fetch(f"{dev.url}/t/{TENANT}/p/{PLUGIN}/")
    assert status == 200, body
    return body.decode()


def plugin_processes(store: Path) -> dict[int, int]:
    """{pid: PORT} of every process running in an installed version of the store."""
    plugins = str(store.resolve() / "plugins") + "/"
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = str(Path(entry / "cwd").readlink())
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if cwd.startswith(plugins):
            ports = [item[5:] for item in environ if item.startswith(b"PORT=")]
            found[int(entry.name)] = int(ports[0]) if ports else 0
    return found


def answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def active_greeting(store: Path) -> str:
    """The greeting of the version `active/<plugin>` points at."""
    source = (store / "active" / PLUGIN / "dist" / PLUGIN / "__init__.py").read_text()
    match = re.search(r"GREETING = '(.*)'", source)
    assert match is not None, source
    return match[1]


def stop_with_ctrl_c(dev: ServerProcess, store: Path, greeting: str) -> None:
    """Ctrl-C exits 0, leaves no plugin process and `greeting`'s build active."""
    running = plugin_processes(store)
    assert len(running) == 1, running  # the live instance only: failed candidates were stopped
    (port,) = running.values()
    assert answers(port)
    assert dev.interrupt() == 0, dev.output
    assert "stopped; the store keeps" in dev.output
    assert plugin_processes(store) == {}
    assert not answers(port)
    assert active_greeting(store) == greeting


def dev_records(store: Path) -> list[dict[str, Any]]:
    path = store / "host" / "dev" / f"{PLUGIN}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def round_log(store: Path, number: int) -> Path:
    return store / "host" / "logs" / TENANT / PLUGIN / f"{number:04d}.log"


def test_dev_swaps_in_good_changes_and_keeps_the_last_good_build(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path, greeting="Hello", health_timeout=QUICK_HEALTH)
    store = tmp_path / "store"
    init = folder / "src" / PLUGIN / "__init__.py"
    with start_dev(folder, store) as dev:
        first = active(round_lines(dev, 1))
        assert "(start)" in dev.wait_for("#1 ")
        assert page(dev).startswith("Hello, dev! /")

        set_greeting(folder, "Howdy")
        second = round_lines(dev, 2)
        assert second[0].startswith(f"#2 src/{PLUGIN}/__init__.py: active ")
        good = active(second)
        assert good != first
        assert page(dev).startswith("Howdy, dev!")

        replace_file(init, "GREETING = 'unterminated\nHEALTHY = True\n")
        error = failed(round_lines(dev, 3), "ACTIVATION FAILED", good)
        assert "SyntaxError" in error
        assert page(dev).startswith("Howdy, dev!")

        set_greeting(folder, "Bonjour")
        fixed = active(round_lines(dev, 4))
        assert page(dev).startswith("Bonjour, dev!")

        set_greeting(folder, "Sick", healthy=False)
        error = failed(round_lines(dev, 5), "ACTIVATION FAILED", fixed)
        assert "/healthz" in error and "500" in error
        assert page(dev).startswith("Bonjour, dev!")

        records = dev_records(store)
        assert [r["iteration"] for r in records] == [1, 2, 3, 4, 5]
        assert [r["outcome"] for r in records] == [
            "active",
            "active",
            "activation-failed",
            "active",
            "activation-failed",
        ]
        assert [r["serving"] for r in records] == [first, good, good, fixed, fixed]
        assert [r["revision"] for r in records][:2] == [first, good]
        assert records[3]["revision"] == fixed
        assert records[2]["revision"] not in (None, good)  # built and installed, not served
        assert records[4]["revision"] not in (None, fixed)
        for record in records:
            assert {"build", "pack", "install", "start"} <= set(record["durations"]), record
            assert all(seconds >= 0 for seconds in record["durations"].values())
            assert (record["error"] is None) == (record["outcome"] == "active"), record
            assert record["log"] == str(round_log(store, record["iteration"]))
        assert "SyntaxError" in records[2]["error"]
        assert "/healthz" in records[4]["error"]

        for number in (1, 2, 4):  # each served page was printed into its own round's log
            assert "page for dev" in round_log(store, number).read_text(), number
        assert "SyntaxError" in round_log(store, 3).read_text()
        for number in (3, 5):
            assert "page for dev" not in round_log(store, number).read_text()

        stop_with_ctrl_c(dev, store, "Bonjour")


def test_dev_keeps_the_last_good_build_when_the_build_fails(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path, greeting="Hello")
    store = tmp_path / "store"
    manifest = folder / "plugin.yaml"
    good_manifest = manifest.read_text()
    lines = good_manifest.splitlines()
    at = lines.index("build:") + 1
    lines[at] = '  command: [python3, -c, "raise SystemExit(7)"]'
    broken_build = "\n".join(lines) + "\n"
    with start_dev(folder, store) as dev:
        good = active(round_lines(dev, 1))
        assert page(dev).startswith("Hello, dev!")

        replace_file(manifest, broken_build)
        error = failed(round_lines(dev, 2), "BUILD FAILED", good)
        assert "7" in error
        assert page(dev).startswith("Hello, dev!")

        set_greeting(folder, "Fixed")  # a source change while the build is broken
        failed(round_lines(dev, 3), "BUILD FAILED", good)
        assert page(dev).startswith("Hello, dev!")

        replace_file(manifest, good_manifest.replace("name: tiny", "name: [tiny"))
        error = failed(round_lines(dev, 4), "BUILD FAILED", good)
        assert "plugin.yaml:" in error
        assert page(dev).startswith("Hello, dev!")

        replace_file(manifest, good_manifest)
        fixed = active(round_lines(dev, 5))
        assert fixed != good
        assert page(dev).startswith("Fixed, dev!")

        records = dev_records(store)
        assert [r["outcome"] for r in records] == [
            "active",
            "build-failed",
            "build-failed",
            "build-failed",
            "active",
        ]
        assert [r["revision"] for r in records] == [good, None, None, None, fixed]
        assert [r["serving"] for r in records] == [good, good, good, good, fixed]
        assert all(r["error"] for r in records[1:4])
        assert "page for dev" in round_log(store, 5).read_text()

        stop_with_ctrl_c(dev, store, "Fixed")


def test_dev_picks_up_a_change_saved_during_the_first_build(tmp_path: Path) -> None:
    """The folder is watched from the start: a save while round 1 builds makes round 2."""
    folder = write_plugin(tmp_path, greeting="Hello")
    copied, gate = tmp_path / "copied", tmp_path / "gate"
    (folder / "build.py").write_text(
        "import os, shutil, time\n"
        "shutil.rmtree('build', True)\n"
        "shutil.copytree('src', 'build', ignore=shutil.ignore_patterns('__pycache__'))\n"
        f"open({str(copied)!r}, 'w').close()\n"
        f"while not os.path.exists({str(gate)!r}):\n"
        "    time.sleep(0.01)\n"
    )
    manifest = folder / "plugin.yaml"
    lines = manifest.read_text().splitlines()
    lines[lines.index("build:") + 1] = "  command: [python3, build.py]"
    manifest.write_text("\n".join(lines) + "\n")
    store = tmp_path / "store"
    with start_dev(folder, store) as dev:
        wait_until(copied.exists, "the first build to have copied the sources")
        set_greeting(folder, "Early")
        gate.touch()
        first = active(round_lines(dev, 1))
        assert page(dev).startswith("Hello, dev!")  # round 1 built the sources it copied
        second = round_lines(dev, 2)
        assert second[0].startswith(f"#2 src/{PLUGIN}/__init__.py: active "), second
        # each revision names the sources its build started from: they differ
        assert first.split("(src ")[1] != active(second).split("(src ")[1]
        assert page(dev).startswith("Early, dev!")
        stop_with_ctrl_c(dev, store, "Early")
