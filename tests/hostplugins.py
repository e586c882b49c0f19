"""Real plugins and real host processes for the local-host tests.

`write_plugin` writes a small serving plugin folder (standard library only) whose behaviour
is chosen by arguments: its greeting, its permissions, a health check that fails, a server
that exits at once or after a request. `HostProcess` and `DevProcess` run `powerx host` and
`px-plugin dev` as real processes on a free loopback port and read what they print.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waiting import wait_until

BIN = Path(sys.executable).parent

SERVER = '''\
"""A test plugin's server (written by tests/hostplugins.py)."""
import json
import os
import sys
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from {module} import GREETING, HEALTHY

if os.path.exists({crash_file!r}):
    print("crash file present: exiting at once", flush=True)
    sys.exit(3)


def host_api(method, path, body=None):
    request = urllib.request.Request(
        os.environ["POWERX_API"] + path,
        data=body,
        method=method,
        headers={{"Authorization": "Bearer " + os.environ["POWERX_TOKEN"]}},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body, kind="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            self.answer(200 if HEALTHY else 500, b"ok" if HEALTHY else b"unhealthy")
        elif self.path == "/api/crash":
            open({crash_file!r}, "w").close()
            print("crashing on request", flush=True)
            os._exit(4)
        elif self.path == "/api/hold":  # answers once the test creates the release file
            open({crash_file!r} + ".held", "w").close()
            deadline = time.monotonic() + 120
            while not os.path.exists({crash_file!r} + ".release") and time.monotonic() < deadline:
                time.sleep(0.01)
            self.answer(200, b"released by " + GREETING.encode())
        elif self.path.startswith("/api/host/"):
            status, body = host_api("GET", self.path[len("/api/host"):])
            self.answer(status, body, "application/json")
        elif self.path == "/api/headers":
            self.answer(200, json.dumps(dict(self.headers)).encode(), "application/json")
        else:
            print("page for", os.environ["POWERX_TENANT"], flush=True)
            text = GREETING + ", " + os.environ["POWERX_TENANT"] + "! " + self.path
            self.answer(200, text.encode())

    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        status, body = host_api("PUT", self.path[len("/api/host"):], self.rfile.read(length))
        self.answer(status, body, "application/json")

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''


def write_plugin(
    root: Path,
    name: str = "tiny",
    *,
    version: str = "0.1.0",
    permissions: tuple[str, ...] = ("tenant-data:read",),
    greeting: str = "Hello",
    healthy: bool = True,
    command_health: bool = False,
    crash_file: Path | None = None,
    health_timeout: int = 10,
) -> Path:
    """A plugin folder `root/name` that serves a greeting (see SERVER); its path.

    `health_timeout` is the health check's timeoutSeconds: how long an unhealthy answer is
    retried before the check fails (a test of a failing check wants it short).
    """
    folder = root / name
    module = name.replace("-", "_")
    package = folder / "src" / module
    package.mkdir(parents=True, exist_ok=True)
    crash = str(crash_file or (root / f"{name}.crash"))
    (package / "__init__.py").write_text(f"GREETING = {greeting!r}\nHEALTHY = {healthy!r}\n")
    (package / "server.py").write_text(SERVER.format(module=module, crash_file=crash))
    health = (
        f"  command: [python3, -c, 'import {module}; assert {module}.HEALTHY']\n"
        if command_health
        else "  http: {path: /healthz}\n"
    )
    listed = ", ".join(permissions)
    build = (
        "import shutil; shutil.rmtree('build', True); "
        "shutil.copytree('src', 'build', ignore=shutil.ignore_patterns('__pycache__'))"
    )
    (folder / "plugin.yaml").write_text(
        textwrap.dedent(
            f"""\
            apiVersion: powerx.io/v1alpha1
            kind: Plugin
            name: {name}
            version: {version}
            description: A test plugin that greets its tenant.
            license: MIT
            compatibility:
              powerx: ">=2.4,<3"
            permissions: [{listed}]
            entrypoint: {module}/server.py
            healthCheck:
            """
        )
        + health
        + f"  timeoutSeconds: {health_timeout}\n"
        + f'build:\n  command: [python3, -c, "{build}"]\n  output: build\n'
        + f"serve:\n  command: [python3, -m, {module}.server]\n  readySeconds: 30\n"
    )
    return folder


def set_greeting(folder: Path, greeting: str, *, healthy: bool = True) -> None:
    """Change the plugin's greeting (a source change the dev loop picks up)."""
    module = folder.name.replace("-", "_")
    path = folder / "src" / module / "__init__.py"
    replace_file(path, f"GREETING = {greeting!r}\nHEALTHY = {healthy!r}\n")


def replace_file(path: Path, text: str) -> None:
    """Save `path` as an editor does: a hidden temporary file renamed over it.

    A watcher sees one change of a whole file, never the truncated file between two writes.
    """
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (children, their children, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found.extend(below)
        todo.extend(below)
    return found


def fetch(url: str, *, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    """(status, body) of one HTTP request; errors are answers too."""
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def fetch_json(url: str) -> tuple[int, Any]:
    status, body = fetch(url)
    return status, json.loads(body)


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a console script of this venv (powerx, px-plugin) to completion."""
    command = [str(BIN / argv[0]), *argv[1:]]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, **kwargs
    )


@dataclass
class ServerProcess:
    """A long-running command (powerx host, px-plugin dev) and the lines it printed."""

    argv: list[str]
    env: dict[str, str] | None = None
    lines: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None

    def start(self) -> ServerProcess:
        # a second start would orphan the first process (`with X.start()` starts twice)
        assert self.process is None, f"{self.argv[0]} was started already"
        command = [str(BIN / self.argv[0]), *self.argv[1:]]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str) -> str:
        """The first printed line containing `text` (fails if the process ends first)."""

        def seen() -> bool:
            assert self.process is not None
            if self.process.poll() is not None and not any(text in ln for ln in self.lines):
                raise AssertionError(f"{self.argv[0]} exited:\n{self.output}")
            return any(text in line for line in self.lines)

        wait_until(seen, f"{text!r} in the output of {self.argv[0]}")
        return next(line for line in self.lines if text in line)

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT of the host, as printed."""
        line = self.wait_for("http://127.0.0.1:")
        start = line.index("http://127.0.0.1:")
        rest = line[start:].split("/")
        return "/".join(rest[:3])

    def status(self) -> dict[str, Any]:
        return fetch_json(f"{self.url}/_powerx/status")[1]  # type: ignore[no-any-return]

    def state(self, tenant: str, plugin: str) -> str | None:
        for item in self.status()["plugins"]:
            if (item["tenant"], item["plugin"]) == (tenant, plugin):
                return str(item["state"])
        return None

    def interrupt(self) -> int:
        """Ctrl-C (SIGINT) and wait for the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=120)

    def kill(self) -> None:
        """SIGKILL the command's process group and its plugins (each in a session of its own)."""
        if self.process is not None and self.process.poll() is None:
            plugins = descendants(self.process.pid)
            os.killpg(self.process.pid, signal.SIGKILL)
            for pid in plugins:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            self.process.wait(timeout=60)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop it gracefully (Ctrl-C: its coverage data is written), then kill what is left."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=60)
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # plugins it may have left
        self.kill()


# -- added for the host API and supervision tests -----------------------------------------


@dataclass(frozen=True)
class PluginProcess:
    """A live plugin process of a store, as /proc shows it."""

    pid: int
    plugin: str
    tenant: str
    token: str
    port: int


def plugin_processes(store: Path, plugin: str | None = None) -> list[PluginProcess]:
    """The live processes started from a version in `store` (optionally of one plugin).

    Read from /proc: a process counts when its POWERX_PLUGIN_DIR lies inside the store (a
    zombie has no environment and does not count).
    """
    root = store.resolve()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "environ").read_bytes()
        except OSError:
            continue
        env = dict(item.partition("=")[::2] for item in raw.decode(errors="replace").split("\0"))
        folder = env.get("POWERX_PLUGIN_DIR")
        if not folder or not Path(folder).resolve().is_relative_to(root):
            continue
        if plugin is not None and env.get("POWERX_PLUGIN_NAME") != plugin:
            continue
        found.append(
            PluginProcess(
                pid=int(entry.name),
                plugin=env.get("POWERX_PLUGIN_NAME", ""),
                tenant=env.get("POWERX_TENANT", ""),
                token=env.get("POWERX_TOKEN", ""),
                port=int(env.get("PORT") or 0),
            )
        )
    return sorted(found, key=lambda p: p.pid)


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, redirects not followed; header names in lower case."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Answer:
    """One HTTP request with http.client (no redirect followed, no proxy from the env)."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target or "/", body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on `port` (from /proc/net/tcp*)."""
    import socket

    found = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, _, port_hex = fields[1].partition(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # the kernel prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, words))
    return found


def stop_host(server: ServerProcess, store: Path) -> int | None:
    """Stop a host with Ctrl-C (its exit code), then kill any plugin process it left."""
    import contextlib

    code = None
    if server.process is not None and server.process.poll() is None:
        code = server.interrupt()
    for leftover in plugin_processes(store):
        with contextlib.suppress(ProcessLookupError):
            os.kill(leftover.pid, signal.SIGKILL)
    return code


def install(
    folder: Path, store: Path, tenant: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """`powerx plugin install --from folder` into `store` for `tenant`; fails the test if refused."""
    result = run(
        [
            "powerx",
            "plugin",
            "install",
            "--from",
            str(folder),
            "--plugin-store",
            str(store),
            "--tenant",
            tenant,
            *extra,
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result
