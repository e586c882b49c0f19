"""A real Prometheus scraping a small exporter that the test controls: fixtures for canary tests.

Fixtures (registered in conftest.py):

* `exporter` -- an `Exporter` on a free loopback port. It serves, per plugin and group
  (`canary` | `stable`), with labels `plugin`, `version` and `group`:
  `powerx_plugin_requests_total` and `powerx_plugin_errors_total` (counters that grow with
  wall time at `rps` requests per second, `error_ratio` of them errors) and the gauge
  `powerx_plugin_latency_seconds`. Change it at any time:

      exporter.set("hello-world", "canary", version="1.1.0", error_ratio=0.2)
      exporter.set("hello-world", "stable", version="1.0.0", latency=0.1, noise=0.02)
      exporter.set("hello-world", "canary", nan=True)   # gauge NaN, no requests (ratio 0/0)
      exporter.set("hello-world", "canary", emit=False) # the series disappear

  `noise` is a relative standard deviation applied to each scrape (seeded RNG).
* `prometheus` -- Debian's `/usr/bin/prometheus` on a free 127.0.0.1 port, scraping
  `exporter` every second, with its own temp data dir; `.url`, `.stop()`, `.start()` (same
  port and data, for "Prometheus stopped mid-rollout"), `.wait_for_samples(query, n)`.
  It is always killed at teardown.

For other scopes use the context managers `running_exporter()` and
`running_prometheus(exporter, directory)`.

Queries to copy into a rollout policy (the judge replaces the placeholders):

    ERROR_RATIO = 'sum(rate(powerx_plugin_errors_total{plugin="{plugin}",group="{group}"}[5s]))'
                  ' / sum(rate(powerx_plugin_requests_total{plugin="{plugin}",group="{group}"}[5s]))'
    LATENCY     = 'powerx_plugin_latency_seconds{plugin="{plugin}",group="{group}"}'
"""

from __future__ import annotations

import contextlib
import math
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from waiting import terminate

PROMETHEUS_BIN = "/usr/bin/prometheus"
SCRAPE_INTERVAL = 1.0
ERROR_RATIO = (
    'sum(rate(powerx_plugin_errors_total{plugin="{plugin}",group="{group}"}[5s]))'
    ' / sum(rate(powerx_plugin_requests_total{plugin="{plugin}",group="{group}"}[5s]))'
)
LATENCY = 'powerx_plugin_latency_seconds{plugin="{plugin}",group="{group}"}'
GROUPS = ("canary", "stable")
_SETPRIV = shutil.which("setpriv")
_DIE_WITH_PARENT = [_SETPRIV, "--pdeathsig", "KILL"] if _SETPRIV else []
"""util-linux's setpriv: Prometheus gets SIGKILL when the test process dies, even by kill -9."""


@dataclass(frozen=True)
class Series:
    """What the exporter serves for one plugin and group."""

    version: str = "1.0.0"
    rps: float = 100.0
    error_ratio: float = 0.01
    latency: float = 0.1
    noise: float = 0.0
    nan: bool = False
    emit: bool = True


@dataclass
class _Counters:
    requests: float = 0.0
    errors: float = 0.0
    last: float = 0.0


class Exporter:
    """An HTTP server with Prometheus text-format metrics the test controls at runtime."""

    def __init__(self, seed: int = 42) -> None:
        self._series: dict[tuple[str, str], Series] = {}
        self._counters: dict[tuple[str, str], _Counters] = {}
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.scrapes = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200 if self.path.startswith("/metrics") else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def target(self) -> str:
        """host:port for a scrape config."""
        return f"127.0.0.1:{self.port}"

    def set(self, plugin: str, group: str, **changes: Any) -> None:
        """Change what one plugin's group serves (see `Series` for the fields)."""
        assert group in GROUPS, group
        with self._lock:
            key = (plugin, group)
            current = self._series.get(key, Series())
            self._series[key] = replace(current, **changes)
            self._counters.setdefault(key, _Counters(last=time.monotonic()))

    def render(self) -> str:
        """The metrics page at this instant; counters advance with wall time."""
        now = time.monotonic()
        lines = [
            "# TYPE powerx_plugin_requests_total counter",
            "# TYPE powerx_plugin_errors_total counter",
            "# TYPE powerx_plugin_latency_seconds gauge",
        ]
        with self._lock:
            self.scrapes += 1
            for (plugin, group), series in sorted(self._series.items()):
                counters = self._counters[(plugin, group)]
                elapsed, counters.last = now - counters.last, now
                if not series.emit:
                    continue
                requests = 0.0 if series.nan else series.rps * elapsed
                ratio = min(1.0, max(0.0, series.error_ratio * self._jitter(series.noise)))
                counters.requests += requests
                counters.errors += requests * ratio
                latency = math.nan if series.nan else series.latency * self._jitter(series.noise)
                labels = f'plugin="{plugin}",version="{series.version}",group="{group}"'
                lines += [
                    f"powerx_plugin_requests_total{{{labels}}} {counters.requests:.6f}",
                    f"powerx_plugin_errors_total{{{labels}}} {counters.errors:.6f}",
                    f"powerx_plugin_latency_seconds{{{labels}}} {_text(latency)}",
                ]
        return "\n".join(lines) + "\n"

    def _jitter(self, noise: float) -> float:
        return max(0.0, 1 + self._rng.gauss(0, noise)) if noise else 1.0

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def _text(value: float) -> str:
    return "NaN" if math.isnan(value) else f"{value:.6f}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prometheus:
    """Debian's Prometheus, scraping one exporter every second, on a free loopback port."""

    def __init__(self, exporter: Exporter, directory: Path) -> None:
        binary = shutil.which("prometheus") or PROMETHEUS_BIN
        if not Path(binary).is_file():
            pytest.fail(
                f"{PROMETHEUS_BIN} is missing: run make setup (installs Debian's prometheus)"
            )
        self.binary = binary
        self.exporter = exporter
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = directory / "prometheus.yml"
        self.config.write_text(
            "global:\n"
            f"  scrape_interval: {SCRAPE_INTERVAL:g}s\n"
            f"  evaluation_interval: {SCRAPE_INTERVAL:g}s\n"
            "scrape_configs:\n"
            "  - job_name: powerx\n"
            "    static_configs:\n"
            f"      - targets: ['{exporter.target}']\n"
        )
        self.log = directory / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        """Start (or restart) on the same port and data dir; return once it has scraped."""
        assert self._process is None, "already running"
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    *_DIE_WITH_PARENT,
                    self.binary,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        self._wait(lambda: self._get("/-/ready").status_code == 200, deadline, "to be ready")
        self._wait(lambda: self._up(), deadline, "to scrape the exporter")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL); the data dir stays for `start()`."""
        process, self._process = self._process, None
        terminate(process)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result list."""
        response = self._get("/api/v1/query", params={"query": promql})
        response.raise_for_status()
        return list(response.json()["data"]["result"])

    def wait_for_samples(self, promql: str, count: int, timeout: float = 120.0) -> None:
        """Wait until a range of `count` seconds back has `count` finite values of `promql`."""

        def enough() -> bool:
            result = self.query(f"({promql})[{count}s:1s]")
            values = [float(v) for series in result for _, v in series["values"]]
            return len([v for v in values if math.isfinite(v)]) >= count

        self._wait(enough, time.monotonic() + timeout, f"for {count} samples of {promql}")

    def _get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=2.0, **kwargs)

    def _up(self) -> bool:
        return any(s["value"][1] == "1" for s in self.query('up{job="powerx"}'))

    def _wait(self, ready: Any, deadline: float, what: str) -> None:
        while time.monotonic() < deadline:
            if not self.running:
                pytest.fail(f"prometheus exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                if ready():
                    return
            time.sleep(0.2)
        pytest.fail(f"prometheus did not get {what} in time; log: {self.log.read_text()[-2000:]}")


@contextlib.contextmanager
def running_exporter(seed: int = 42) -> Iterator[Exporter]:
    """An exporter for the duration of the block."""
    exporter = Exporter(seed)
    try:
        yield exporter
    finally:
        exporter.close()


@contextlib.contextmanager
def running_prometheus(exporter: Exporter, directory: Path) -> Iterator[Prometheus]:
    """A started Prometheus scraping `exporter`; killed when the block ends."""
    directory.mkdir(parents=True, exist_ok=True)
    server = Prometheus(exporter, directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    """A controllable metrics exporter on a free loopback port."""
    with running_exporter() as running:
        yield running


@pytest.fixture
def prometheus(exporter: Exporter, tmp_path: Path) -> Iterator[Prometheus]:
    """A real Prometheus scraping `exporter` every second."""
    with running_prometheus(exporter, tmp_path / "prometheus") as server:
        yield server
