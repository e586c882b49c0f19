"""The server as the PowerX host runs it: a real process, real HTTP on loopback.

Each test starts `python -m hello_world.server` with the runtime contract's environment (and
little else) against a stand-in for the host API: a ThreadingHTTPServer in this process that
answers `GET /v1/tenant` the way the test tells it to.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import hello_world
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
TOKEN = "token-of-this-instance"  # noqa: S105 - no secret, only for the stand-in
ACME = {"name": "acme", "displayName": "Acme Corp"}
REFUSAL = {
    "error": "hello-world may not read tenant data of acme",
    "permission": "tenant-data:read",
    "grant": "powerx tenant grant acme hello-world tenant-data:read",
}
WAIT = 20.0
"""Seconds to wait for the server to say something before the test fails."""


class StandInHost(ThreadingHTTPServer):
    """The host API, as far as hello-world uses it: `GET /v1/tenant`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), StandInHandler)
        self.status = 200
        self.body: bytes = json.dumps(ACME).encode()
        self.seen: list[tuple[str, str | None]] = []  # (path, Authorization)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def answer(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()


class StandInHandler(BaseHTTPRequestHandler):
    server: StandInHost

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        known = self.path == "/v1/tenant"
        self.send_response(self.server.status if known else 404)
        self.send_header("Content-Type", "application/json")
        body = self.server.body if known else b"{}"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def host() -> Iterator[StandInHost]:
    server = StandInHost()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Plugin:
    """A running `python -m hello_world.server` and what it wrote to stderr."""

    process: subprocess.Popen[str]
    port: int
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    log: list[str] = field(default_factory=list)
    ended: bool = False

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of output

    def next_line(self) -> str:
        """The next line on stderr; "" once the process closed it."""
        if self.ended:
            return ""
        try:
            line = self.lines.get(timeout=WAIT)
        except queue.Empty:
            pytest.fail(f"the server said nothing for {WAIT:g}s")
        if line is None:
            self.ended = True
            return ""
        self.log.append(line)
        return line

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            connection.close()

    def get_json(self, path: str) -> tuple[int, Any]:
        status, headers, body = self.get(path)
        assert headers["Content-Type"] == "application/json"
        return status, json.loads(body)

    def stop(self) -> int:
        """SIGTERM, as the host stops a plugin; then wait() for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def wait(self) -> int:
        """The exit code, once the process ended and all it said is in `log`."""
        code = self.process.wait(timeout=WAIT)
        while self.next_line():
            pass
        return code


def contract_env(api: str, port: int, **extra: str) -> dict[str, str]:
    """What the host gives a plugin: a minimal environment plus the runtime contract."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),  # noqa: S108 - the usual default
        "PYTHONPATH": str(SRC),  # the host puts dist/ first; here the sources are dist/
        "PORT": str(port),
        "POWERX_TENANT": "acme",
        "POWERX_API": api,
        "POWERX_TOKEN": TOKEN,
        "POWERX_PLUGIN_NAME": "hello-world",
    }
    # When coverage.py measures these tests, it measures the server's process too.
    env.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_PROCESS_")})
    env.update(extra)
    return {key: value for key, value in env.items() if value}


def start(tmp_path: Path, env: dict[str, str]) -> Plugin:
    process = subprocess.Popen(
        [sys.executable, "-m", "hello_world.server"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    port = env.get("PORT", "")
    return Plugin(process, int(port) if port.isdigit() else 0)


@pytest.fixture
def serve(tmp_path: Path, host: StandInHost) -> Iterator[Any]:
    """serve(**env) starts the server for tenant acme and waits until it listens."""
    started: list[Plugin] = []

    def run(**extra: str) -> Plugin:
        plugin = start(tmp_path, contract_env(host.api, free_port(), **extra))
        started.append(plugin)
        line = plugin.next_line()
        assert " serving" in line, line
        return plugin

    yield run
    for plugin in started:
        assert plugin.stop() == 0, plugin.log


def test_page_greets_the_tenant_read_through_the_host(serve: Any, host: StandInHost) -> None:
    plugin = serve()
    status, headers, page = plugin.get("/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<p id="greeting">Hello, Acme Corp!</p>' in page
    assert 'fetch("api/greeting"' in page  # relative: the host serves us under a prefix
    assert "<base" not in page and 'href="/' not in page and 'src="/' not in page
    assert host.seen == [("/v1/tenant", f"Bearer {TOKEN}")]


def test_api_greets_in_the_language_asked(serve: Any) -> None:
    plugin = serve()
    assert plugin.get_json("/api/greeting") == (
        200,
        {"greeting": "Hello, Acme Corp!", "tenant": "acme", "version": hello_world.__version__},
    )
    status, data = plugin.get_json("/api/greeting?lang=de")
    assert (status, data["greeting"]) == (200, "Hallo, Acme Corp!")
    status, _, page = plugin.get("/?lang=fr")
    assert status == 200 and "Bonjour, Acme Corp!" in page


def test_the_greeting_word_is_the_one_in_greetings(serve: Any, tmp_path: Path) -> None:
    """The demo's one-line edit of GREETINGS shows on the page and in the API."""
    source = (SRC / "hello_world" / "__init__.py").read_text()
    assert source.count('"en": "Hello"') == 1
    edited = tmp_path / "dist" / "hello_world"
    edited.mkdir(parents=True)
    (edited / "__init__.py").write_text(source.replace('"en": "Hello"', '"en": "Howdy"'))
    (edited / "server.py").write_bytes((SRC / "hello_world" / "server.py").read_bytes())
    plugin = serve(PYTHONPATH=str(tmp_path / "dist"))
    assert plugin.get_json("/api/greeting")[1]["greeting"] == "Howdy, Acme Corp!"
    assert "Howdy, Acme Corp!" in plugin.get("/")[2]


def test_version_is_the_one_the_host_installed(serve: Any) -> None:
    plugin = serve(POWERX_PLUGIN_VERSION="1.1.0-dev.7")
    assert plugin.get_json("/api/greeting")[1]["version"] == "1.1.0-dev.7"
    assert "<h1>hello-world 1.1.0-dev.7</h1>" in plugin.get("/")[2]


def test_behind_the_proxy_links_resolve_under_the_prefix(serve: Any) -> None:
    plugin = serve()
    prefix = "/t/acme/p/hello-world"
    for sent in (prefix, prefix + "/"):
        page = plugin.get("/", **{"X-Forwarded-Prefix": sent})[2]
        assert f'<base href="{prefix}/">' in page
    page = plugin.get("/", **{"X-Forwarded-Prefix": '/x"><b>'})[2]
    assert '<base href="/x&quot;&gt;&lt;b&gt;/">' in page
    assert "<base" not in plugin.get("/", **{"X-Forwarded-Prefix": "elsewhere"})[2]


def test_display_name_falls_back_to_the_tenant_name(serve: Any, host: StandInHost) -> None:
    host.answer(200, {"name": "globex", "displayName": "  "})
    plugin = serve()
    assert plugin.get_json("/api/greeting")[1] == {
        "greeting": "Hello, globex!",
        "tenant": "globex",
        "version": hello_world.__version__,
    }


def test_health_never_calls_the_host(serve: Any, host: StandInHost) -> None:
    host.answer(403, REFUSAL)
    plugin = serve()
    status, headers, body = plugin.get("/healthz")
    assert (status, body) == (200, "ok\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert host.seen == []


def test_a_refusal_of_the_host_is_passed_on_readably(serve: Any, host: StandInHost) -> None:
    host.answer(403, REFUSAL)
    plugin = serve()
    status, data = plugin.get_json("/api/greeting")
    assert status == 502
    assert data["permission"] == "tenant-data:read" and data["grant"] == REFUSAL["grant"]
    assert data["error"] == (
        f"the host API refused GET {host.api}/tenant: 403 {REFUSAL['error']} "
        f"(grant it with: {REFUSAL['grant']})"
    )
    status, _, page = plugin.get("/")
    assert status == 502
    assert "403 hello-world may not read tenant data of acme" in page
    assert "powerx tenant grant acme hello-world tenant-data:read" in page
    assert plugin.process.poll() is None  # still serving


def test_a_host_error_without_json_is_a_bad_gateway(serve: Any, host: StandInHost) -> None:
    host.answer(500, b"<html>boom</html>")
    plugin = serve()
    status, data = plugin.get_json("/api/greeting")
    assert status == 502
    assert data == {
        "error": f"the host API refused GET {host.api}/tenant: 500 Internal Server Error"
    }


def test_an_answer_without_the_name_is_a_bad_gateway(serve: Any, host: StandInHost) -> None:
    host.answer(200, ["acme"])
    plugin = serve()
    status, data = plugin.get_json("/api/greeting")
    assert status == 502
    assert data["error"].startswith(f"the host API answered GET {host.api}/tenant without")


def test_an_unreachable_host_is_unavailable(tmp_path: Path) -> None:
    plugin = start(tmp_path, contract_env(f"http://127.0.0.1:{free_port()}/v1", free_port()))
    try:
        assert " serving for tenant acme on " in plugin.next_line()
        status, data = plugin.get_json("/api/greeting")
        assert status == 503
        assert data["error"].startswith("the host API at http://127.0.0.1:")
        assert "cannot be reached: [Errno 111] Connection refused" in data["error"]
    finally:
        assert plugin.stop() == 0


def test_unknown_paths_are_not_found(serve: Any) -> None:
    plugin = serve()
    assert plugin.get_json("/api/nothing") == (404, {"error": "no such page: /api/nothing"})


def test_one_log_line_per_request_and_a_clean_stop(serve: Any) -> None:
    plugin = serve()
    assert plugin.log == [
        f"hello-world {hello_world.__version__} serving for tenant acme "
        f"on http://127.0.0.1:{plugin.port}/"
    ]
    plugin.get("/healthz")
    assert plugin.next_line() == 'hello-world: "GET /healthz HTTP/1.1" 200 -'
    assert plugin.stop() == 0
    assert plugin.log[-1] == "hello-world: stopped by SIGTERM"


def test_ctrl_c_stops_it_too(serve: Any) -> None:
    plugin = serve(POWERX_TENANT="")
    assert "serving on http://127.0.0.1:" in plugin.log[0]
    plugin.process.send_signal(signal.SIGINT)
    assert plugin.wait() == 0
    assert plugin.log[-1] == "hello-world: stopped by SIGINT"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"PORT": "", "POWERX_TOKEN": ""},
            "PORT, POWERX_TOKEN not set: the PowerX host sets them when it starts this plugin",
        ),
        ({"PORT": "http"}, "PORT must be a port number (1-65535), not 'http'"),
        ({"PORT": "70000"}, "PORT must be a port number (1-65535), not '70000'"),
        ({"POWERX_API": "file:///etc"}, "POWERX_API must be an http(s) URL, not 'file:///etc'"),
    ],
)
def test_a_bad_environment_is_refused(tmp_path: Path, env: dict[str, str], message: str) -> None:
    plugin = start(tmp_path, contract_env("http://127.0.0.1:9/v1", free_port(), **env))
    assert plugin.wait() == 2
    assert plugin.log[0].startswith(f"hello-world: error: {message}")


def test_a_taken_port_is_refused(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        plugin = start(tmp_path, contract_env("http://127.0.0.1:9/v1", port))
        assert plugin.wait() == 1
    assert plugin.log[0] == (
        f"hello-world: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_importing_the_module_starts_nothing() -> None:
    """Only `python -m hello_world.server` serves; the module itself is importable."""
    from hello_world.server import Settings

    settings = Settings.from_environ(
        {"PORT": "7301", "POWERX_API": "http://127.0.0.1:7300/v1/", "POWERX_TOKEN": TOKEN}
    )
    assert settings == Settings(7301, "http://127.0.0.1:7300/v1", TOKEN, "", "1.1.0")
