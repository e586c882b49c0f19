"""Benchmark the local loop (issue 12): save-to-served of `px-plugin dev`, the proxy's overhead.

**Save-to-served.** `px-plugin dev` runs as a real process on a copy of the plugin (default
examples/hello-world; a generated serving plugin from tests/hostplugins.py while hello-world
has no `serve:` block). Each round changes the greeting word (a new `'Hello'` literal in the
plugin's sources, written in place as an editor saves), takes the file's mtime as the save
time, and polls the page through the host's proxy until it shows the new word; the figure is
served-time minus save-time. The dev loop's own `totalSeconds` and step durations (build,
pack, install, start) are read from `<store>/host/dev/<plugin>.jsonl`; each round's record
must say `active` with the revision that served the page. Baseline in the same rounds: the
plugin's plain `build.command`, run as a subprocess in a second copy of the plugin folder.

**Proxy overhead.** `powerx host` serves the store the dev loop left (its last build
active, tenant `dev` granted what the plugin declares). Requests to the same path through the proxy
(`/t/dev/p/<plugin>/<path>`) and straight to the plugin's own port (the `port` of
`/_powerx/status`) alternate one by one, each side on its own keep-alive `httpx.Client`;
every answer must be 200 with the same body as a direct request's. Per-request median and
p90 of each side, and their difference, per path: `/healthz` (the plugin answers at once)
and `/api/greeting` (hello-world asks the host API for the tenant first).

Rounds are interleaved (`timing.py`) after untimed warm-up rounds; every timed step is
checked before its time counts, else the benchmark stops.

    .venv/bin/python bench/host_bench.py [--plugin DIR] [--iterations 20] [--requests 5000]
                                         [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from timing import Step, Timing, pair_of, rounds

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from pipeline.models.plugin import PluginManifest  # noqa: E402
from pipeline.packaging.manifest import read_manifest  # noqa: E402

OUT = PROJECT / "bench" / "out" / "host-bench"
BIN = Path(sys.executable).parent
HELLO = PROJECT / "examples" / "hello-world"
TENANT = "dev"
GREETING = re.compile(r"""(["'])Hello\1""")
"""The greeting literal each round replaces with a new word."""
DEADLINE = 120.0
"""Seconds after which a wait counts as failed (a hang, not an expected duration)."""
PROXY_PATHS = ("/healthz", "/api/greeting")
WARMUP_REQUESTS = 50


def fail(message: str) -> None:
    raise SystemExit(f"host_bench: {message}")


# -- processes --------------------------------------------------------------------------


@dataclass
class Server:
    """A long-running console script of this venv (px-plugin dev, powerx host)."""

    argv: list[str]
    lines: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None

    def start(self) -> Server:
        self.process = subprocess.Popen(
            [str(BIN / self.argv[0]), *self.argv[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str) -> str:
        """The first printed line holding `text`; stops the benchmark if the process ends."""
        assert self.process is not None
        end = time.monotonic() + DEADLINE
        while True:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.process.poll() is not None or time.monotonic() > end:
                shown = "\n".join(self.lines[-30:])
                fail(f"{self.argv[0]} did not print {text!r}:\n{shown}")
            time.sleep(0.01)

    def url(self) -> str:
        """http://127.0.0.1:PORT, as printed."""
        line = self.wait_for("http://127.0.0.1:")
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match is not None
        return match.group(0)

    def stop(self) -> None:
        """Ctrl-C (SIGINT), then SIGKILL of the process group if it does not end."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def wait_until(condition: Callable[[], object], what: str, poll: float = 0.01) -> None:
    end = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > end:
            fail(f"timed out after {DEADLINE:g} s waiting for {what}")
        time.sleep(poll)


# -- the plugin -------------------------------------------------------------------------


def manifest_of(folder: Path) -> PluginManifest:
    return read_manifest(folder).manifest


def source_plugin(given: Path | None) -> Path:
    """The plugin to time: --plugin, else hello-world if it serves, else a generated one."""
    if given is not None:
        folder = given.resolve()
        if manifest_of(folder).serve is None:
            fail(f"{folder}/plugin.yaml has no serve: block; the local host cannot run it")
        return folder
    if manifest_of(HELLO).serve is not None:
        return HELLO
    print("examples/hello-world has no serve: block yet: timing the generated serving plugin")
    print("of tests/hostplugins.py (write_plugin) instead")
    sys.path.insert(0, str(PROJECT / "tests"))
    from hostplugins import write_plugin

    root = OUT / "generated"
    shutil.rmtree(root, ignore_errors=True)
    return write_plugin(root, "tiny")


def copy_plugin(source: Path, target: Path, output: str) -> Path:
    """A clean copy of the plugin folder (no build output, dist/ or caches)."""
    shutil.rmtree(target, ignore_errors=True)
    ignored = shutil.ignore_patterns(output, "dist", "__pycache__", "*.pyc", "*.pxp")
    shutil.copytree(source, target, ignore=ignored)
    return target


def greeting_file(folder: Path) -> Path:
    """The first source file under src/ holding a 'Hello' string literal."""
    for path in sorted((folder / "src").rglob("*.py")):
        if GREETING.search(path.read_text(encoding="utf-8")):
            return path
    fail(f"no file under {folder}/src holds a 'Hello' string literal to change")
    raise AssertionError  # unreachable


# -- save to served ---------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    seconds: float
    """served-time minus the file's mtime."""
    record: dict[str, Any]
    """The dev loop's JSONL line of this save."""


class DevLoop:
    """A `px-plugin dev` process on a copy of the plugin, and one way to save and wait."""

    def __init__(self, folder: Path, store: Path, name: str, poll: float) -> None:
        self.folder = folder
        self.name = name
        self.poll = poll
        self.path = greeting_file(folder)
        self.template = self.path.read_text(encoding="utf-8")
        self.journal = store / "host" / "dev" / f"{name}.jsonl"
        self.server = Server(
            ["px-plugin", "dev", str(folder), "--plugin-store", str(store), "--port", "0"]
        )
        self.client = httpx.Client(trust_env=False, timeout=30)
        self.saves = 0
        self.page = ""

    def start(self) -> None:
        self.server.start()
        self.page = f"{self.server.url()}/t/{TENANT}/p/{self.name}/"
        self.server.wait_for("#1 ")
        wait_until(lambda: len(self.records()) == 1, f"the first record in {self.journal}")
        if self.records()[0]["outcome"] != "active":
            fail(f"the first round did not serve: {self.records()[0]}")

    def records(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        lines = self.journal.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def save_and_serve(self) -> Served:
        """Write a new greeting; seconds from the file's mtime until the page shows it."""
        self.saves += 1
        word = f"Hello{self.saves:03d}"
        before = len(self.records())
        match = GREETING.search(self.template)
        assert match is not None
        quote = match.group(1)
        text = (
            self.template[: match.start()] + f"{quote}{word}{quote}" + self.template[match.end() :]
        )
        self.path.write_text(text, encoding="utf-8")
        saved = self.path.stat().st_mtime
        marker = f"{word}, "
        end = time.monotonic() + DEADLINE
        while True:
            answer = self.client.get(self.page)
            if answer.status_code == 200 and marker in answer.text:
                served = time.time()
                break
            if time.monotonic() > end or self.server.process.poll() is not None:  # type: ignore[union-attr]
                shown = "\n".join(self.server.lines[-30:])
                fail(f"{self.page} never showed {marker!r} (last: {answer.status_code}):\n{shown}")
            time.sleep(self.poll)
        revision = answer.headers.get("x-powerx-revision")
        wait_until(lambda: len(self.records()) > before, f"round {self.saves} in {self.journal}")
        record = self.records()[-1]
        if record["outcome"] != "active" or record["revision"] != revision:
            fail(f"round {self.saves}: the page came from {revision}, the dev loop says {record}")
        return Served(served - saved, record)

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


def run_build(folder: Path, command: Sequence[str], output: str) -> None:
    """The plain build.command in `folder`; its output folder must be there after."""
    shutil.rmtree(folder / output, ignore_errors=True)
    subprocess.run(list(command), cwd=folder, check=True, capture_output=True)
    if not any((folder / output).rglob("*.py")):
        fail(f"{' '.join(command)} wrote no Python file to {folder / output}")


def row(label: str, timing: Timing, ratio: str = "") -> None:
    print(f"{label:<44} {timing.cell():>26} {ratio:>11}")


def save_to_served(plugin: Path, iterations: int, poll: float) -> Path:
    """Time saves through `px-plugin dev` against the plain build; the dev loop's store."""
    manifest = manifest_of(plugin)
    build, output = manifest.build.command, manifest.build.output
    if not build:
        fail(f"{plugin}/plugin.yaml has no build.command to compare with")
    work = OUT / "dev"
    shutil.rmtree(work, ignore_errors=True)
    watched = copy_plugin(plugin, work / "watched" / plugin.name, output)
    plain = copy_plugin(plugin, work / "plain" / plugin.name, output)
    loop = DevLoop(watched, work / "store", manifest.name, poll)
    served: list[Served] = []
    try:
        loop.start()
        samples = rounds(
            {
                "dev": Step(lambda: served.append(loop.save_and_serve())),
                "build": Step(lambda: run_build(plain, build, output)),
            },
            iterations,
        )
    finally:
        loop.stop()
    counted = served[-iterations:]  # the warm-up round's save is not counted
    seconds = [s.seconds for s in counted]
    pair = pair_of(seconds, samples["build"])
    totals = Timing.of([float(s.record["totalSeconds"]) for s in counted])
    print(f"\nsave-to-served: {manifest.name} ({plugin}), {iterations} rounds")
    print(f"{'step':<44} {'min / median / max, ms':>26} {'/ baseline':>11}")
    row(f"build.command alone (baseline): {' '.join(build)[:12]}", pair.baseline)
    row("save -> page shows it, through the proxy", pair.subject, pair.ratio_cell())
    row("dev loop totalSeconds (JSONL)", totals)
    for step in ("build", "pack", "install", "start"):
        values = [float(s.record["durations"].get(step, 0.0)) for s in counted]
        row(f"  of which {step} (JSONL)", Timing.of(values))
    print(f"the page is polled every {poll * 1000:g} ms (a served time is up to that late)")
    print("ratio: median of the per-round ratios (each round: one save, then one plain build)")
    return work / "store"


# -- proxy overhead ---------------------------------------------------------------------


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (None where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plugin_port(client: httpx.Client, url: str, name: str) -> int:
    """The plugin's own port, from the host's status once it runs."""
    found: dict[str, Any] = {}

    def running() -> bool:
        for item in client.get(f"{url}/_powerx/status").json()["plugins"]:
            if (item["tenant"], item["plugin"]) == (TENANT, name) and item["state"] == "running":
                found.update(item)
                return True
        return False

    wait_until(running, f"{name} running on the host")
    if not isinstance(found.get("port"), int):
        fail(f"{url}/_powerx/status shows no port for {name}: {found}")
    return int(found["port"])


def compare(
    proxy: httpx.Client, direct: httpx.Client, path: str, requests: int
) -> dict[str, list[float]]:
    """Seconds per GET `path` through the proxy and direct, alternating, each checked."""
    expected = direct.get(path)
    if expected.status_code != 200:
        fail(f"GET {path} on the plugin answered {expected.status_code}: {expected.text}")

    def check(answer: httpx.Response, proxied: bool) -> None:
        if answer.status_code != 200 or answer.content != expected.content:
            fail(f"GET {path} answered {answer.status_code}: {answer.text[:200]}")
        if proxied != ("x-powerx-revision" in answer.headers):
            fail(f"GET {path}: the answer {'lacks' if proxied else 'has'} X-PowerX-Revision")

    return rounds(
        {
            "proxy": Step(lambda: proxy.get(path), check=lambda a: check(a, True)),
            "direct": Step(lambda: direct.get(path), check=lambda a: check(a, False)),
        },
        requests,
        warmup=WARMUP_REQUESTS,
    )


def proxy_overhead(name: str, store: Path, requests: int) -> None:
    """Time requests through `powerx host` on `store` against the plugin's own port."""
    host = Server(["powerx", "host", "--plugin-store", str(store), "--port", "0"]).start()
    plain = httpx.Client(trust_env=False, timeout=30)
    try:
        url = host.url()
        port = plugin_port(plain, url, name)
        proxy = httpx.Client(base_url=f"{url}/t/{TENANT}/p/{name}", trust_env=False, timeout=30)
        direct = httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30)
        print(f"\nproxy overhead: {name} on powerx host {url}, plugin on port {port}")
        print(f"{requests:,} requests each way per path, alternating, one keep-alive client each")
        print(f"{'path':<16} {'side':<8} {'min':>7} {'median':>7} {'p90':>7} {'max':>8}  (ms)")
        for path in PROXY_PATHS:
            assert host.process is not None
            before = cpu_seconds(host.process.pid)
            samples = compare(proxy, direct, path, requests)
            after = cpu_seconds(host.process.pid)
            for side in ("direct", "proxy"):
                values = [v * 1000 for v in samples[side]]
                figures = (min(values), statistics.median(values), percentile(values, 0.9))
                shown = " ".join(f"{v:>7.3f}" for v in figures)
                print(f"{path:<16} {side:<8} {shown} {max(values):>8.2f}")
            proxied, straight = samples["proxy"], samples["direct"]
            gaps = [a - b for a, b in zip(proxied, straight, strict=True)]
            median_gap = statistics.median(proxied) - statistics.median(straight)
            p90_gap = percentile(proxied, 0.9) - percentile(straight, 0.9)
            print(
                f"{path:<16} overhead: {median_gap * 1000:.3f} ms at the median, "
                f"{p90_gap * 1000:.3f} ms at p90; median of the per-pair differences "
                f"{statistics.median(gaps) * 1000:.3f} ms; ratio "
                f"{pair_of(proxied, straight).ratio_cell()}"
            )
            if before is not None and after is not None:
                spent = (after - before) / (requests + WARMUP_REQUESTS) * 1000
                print(f"{path:<16} host process CPU: {spent:.3f} ms per proxied request")
        proxy.close()
        direct.close()
    finally:
        plain.close()
        host.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--plugin", type=Path, help="a serving plugin folder [default: hello-world]"
    )
    parser.add_argument("--iterations", type=int, default=20, help="saves timed (default 20)")
    parser.add_argument("--requests", type=int, default=5000, help="requests per side and path")
    parser.add_argument("--poll-ms", type=float, default=10, help="page polling interval")
    parser.add_argument("--quick", action="store_true", help="3 saves, 300 requests")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.requests = 3, 300
    plugin = source_plugin(args.plugin)
    print(f"machine: nproc {os.cpu_count()}, Python {platform.python_version()}")
    store = save_to_served(plugin, args.iterations, args.poll_ms / 1000)
    proxy_overhead(manifest_of(plugin).name, store, args.requests)


if __name__ == "__main__":
    main()
