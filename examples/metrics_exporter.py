"""The demo's metrics source: a small exporter, and a real Prometheus scraping it every second.

    python examples/metrics_exporter.py CONFIG.json STATE_DIR [ROLLOUT_POLICY]

CONFIG.json says what each plugin's canary and stable groups serve, and is read again on
every scrape, so it can be changed while the demo runs:

    {"hello-world": {"stable": {"version": "1.0.0", "error_ratio": 0.01, "latency": 0.10},
                     "canary": {"version": "1.1.0", "error_ratio": 0.01, "latency": 0.10}}}

The exporter serves `powerx_plugin_requests_total` and `powerx_plugin_errors_total`
(counters growing at 100 requests per second, `error_ratio` of them errors) and the gauge
`powerx_plugin_latency_seconds`, labelled plugin, version and group (canary | stable), with
2% deterministic noise. When Debian's `prometheus` is installed, it is started on a free
loopback port with its data in STATE_DIR, and its URL is written to STATE_DIR/url once it
has scraped; otherwise STATE_DIR/url says `file:` and STATE_DIR/samples.json holds samples
for the file provider (rendered from policies/rollout.yaml's queries, refreshed every
second). Runs until killed; Prometheus dies with it.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RPS = 100.0
NOISE = 0.02


class Exporter:
    """Counters per (plugin, group) that advance with wall time, as the config says."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.counters: dict[tuple[str, str], list[float]] = {}
        self.rng = random.Random(7)  # noqa: S311 - noise, not secrets
        self.lock = threading.Lock()

    def series(self) -> dict[str, dict[str, dict[str, Any]]]:
        try:
            data = json.loads(self.config.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def render(self) -> str:
        now = time.monotonic()
        lines = [
            "# TYPE powerx_plugin_requests_total counter",
            "# TYPE powerx_plugin_errors_total counter",
            "# TYPE powerx_plugin_latency_seconds gauge",
        ]
        with self.lock:
            for plugin, groups in sorted(self.series().items()):
                for group, spec in sorted(groups.items()):
                    requests, errors, last = self.counters.get((plugin, group), [0.0, 0.0, now])
                    served = RPS * (now - last)
                    ratio = float(spec.get("error_ratio", 0.01)) * self.jitter()
                    requests, errors = requests + served, errors + served * min(1.0, ratio)
                    self.counters[(plugin, group)] = [requests, errors, now]
                    latency = float(spec.get("latency", 0.1)) * self.jitter()
                    labels = f'plugin="{plugin}",version="{spec["version"]}",group="{group}"'
                    lines += [
                        f"powerx_plugin_requests_total{{{labels}}} {requests:.6f}",
                        f"powerx_plugin_errors_total{{{labels}}} {errors:.6f}",
                        f"powerx_plugin_latency_seconds{{{labels}}} {latency:.6f}",
                    ]
        return "\n".join(lines) + "\n"

    def jitter(self) -> float:
        return max(0.0, 1 + self.rng.gauss(0, NOISE))


def serve(exporter: Exporter) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exporter.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_prometheus(binary: str, target: str, state: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = state / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['{target}']\n"
    )
    setpriv = shutil.which("setpriv")
    command = [
        *([setpriv, "--pdeathsig", "KILL"] if setpriv else []),
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={state / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    log = (state / "prometheus.log").open("ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"prometheus exited; see {state / 'prometheus.log'}")
        with contextlib.suppress(OSError, ValueError):
            query = urllib.request.quote('count(up{job="demo"} == 1)')
            address = f"{url}/api/v1/query?query={query}"  # http://127.0.0.1 only
            with urllib.request.urlopen(address, timeout=1) as answer:  # noqa: S310
                if json.load(answer)["data"]["result"]:
                    return process, url
        time.sleep(0.2)
    process.kill()
    sys.exit("prometheus did not start in 30 s")


def write_samples(exporter: Exporter, policy: Path, out: Path) -> None:
    """The file provider's samples for every configured plugin, from the policy's queries."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from pipeline.models.rollout import render_query
    from pipeline.yamlio import parse_yaml

    metrics = parse_yaml(policy.read_bytes(), str(policy)).data.get("metrics", [])
    samples: dict[str, list[float]] = {}
    for plugin, groups in exporter.series().items():
        for group, spec in groups.items():
            for metric in metrics:
                field = "error_ratio" if "error" in metric["name"] else "latency"
                query = render_query(
                    metric["query"], plugin=plugin, version=spec["version"], group=group
                )
                base = float(spec.get(field, 0.1))
                samples[query] = [base * exporter.jitter() for _ in range(12)]
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"samples": samples}))
    tmp.replace(out)


def main() -> None:
    config, state = Path(sys.argv[1]), Path(sys.argv[2])
    state.mkdir(parents=True, exist_ok=True)
    exporter = Exporter(config)
    server = serve(exporter)
    target = f"127.0.0.1:{server.server_address[1]}"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if Path(binary).is_file():
        process, url = start_prometheus(binary, target, state)
        (state / "url").write_text(url)
        try:
            while process.poll() is None:
                time.sleep(0.5)
        finally:
            process.terminate()
        return
    policy = Path(sys.argv[3]) if len(sys.argv) > 3 else Path("policies/rollout.yaml")
    (state / "url").write_text("file:")
    while True:
        write_samples(exporter, policy, state / "samples.json")
        time.sleep(1)


if __name__ == "__main__":
    main()
