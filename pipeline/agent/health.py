"""The health check of `plugin.yaml`: a command, or an HTTP GET on the local host, with a timeout.

A command runs without a shell, in the extracted version's folder, in its own process group
(killed whole when the timeout strikes), with `POWERX_PLUGIN_DIR`, `POWERX_PLUGIN_NAME` and
`POWERX_PLUGIN_VERSION` in its environment, and the version's `dist/` (where `entrypoint`
lives) first on `PYTHONPATH`, so a check such as `python3 -c "import my_plugin"` finds the
plugin's own modules as the host will load them; exit 0 is healthy. An HTTP check is polled until
it answers 2xx or the timeout passes (the plugin may still be starting). Proxies from the
environment are ignored: the check talks to this host.

A plugin with a `serve` block (the runtime contract) names no port: its HTTP check starts
`serve.command` on a free loopback port (`serve_environ`), polls it, and stops it again.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipeline.models.plugin import DIST_DIR, HealthCheck, ServeSpec

OUTPUT_TAIL = 300
"""Characters of a failing command's output kept in the report."""

KILL_GRACE = 5.0
"""Seconds to wait for the output pipe to close once the check's process group is killed."""

POLL_INTERVAL = 0.2
"""Seconds between two HTTP attempts."""


@dataclass(frozen=True)
class HealthResult:
    """The outcome of one health check."""

    healthy: bool
    detail: str
    seconds: float


def effective_timeout(check: HealthCheck, cap: float) -> float:
    """The plugin's own timeout (`timeoutSeconds`), never more than the agent's cap."""
    return float(min(check.timeout_seconds, cap))


def run_health_check(
    check: HealthCheck,
    folder: Path,
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    clock: Callable[[], float] = time.monotonic,
    serve: ServeSpec | None = None,
) -> HealthResult:
    """Run `check` for the version extracted in `folder`; never raises for an unhealthy plugin.

    An HTTP check without a port starts `serve` for the check (see the module docstring).
    """
    started = clock()
    if check.command is not None:
        healthy, detail = _run_command(check.command, folder, timeout, plugin_environ(folder, env))
    elif check.http is not None and check.http.port is None:
        assert serve is not None, "the model requires serve for an HTTP check without a port"
        healthy, detail = _probe_serving(serve, check.http.path, folder, timeout, env, clock)
    else:
        assert check.http is not None  # the model guarantees exactly one of the two
        url = f"http://{host}:{check.http.port}{check.http.path}"
        healthy, detail = _poll_http(url, timeout, clock)
    return HealthResult(healthy, detail, round(clock() - started, 3))


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def serve_environ(
    folder: Path,
    base: Mapping[str, str] | None,
    *,
    port: int,
    tenant: str,
    api_url: str,
    token: str,
) -> dict[str, str]:
    """The environment of a plugin's `serve` process: the runtime contract's variables.

    `base` (e.g. a few harmless variables of the host's) plus PORT, POWERX_TENANT,
    POWERX_API, POWERX_TOKEN, the plugin's name, version and folder (when `base` names them),
    and the version's `dist/` first on PYTHONPATH.
    """
    env = plugin_environ(folder, base)
    env.update(
        PORT=str(port),
        POWERX_TENANT=tenant,
        POWERX_API=api_url,
        POWERX_TOKEN=token,
        POWERX_PLUGIN_DIR=str(folder),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",  # an installed version stays as it was verified
    )
    return env


class _NoHostApi(http.server.BaseHTTPRequestHandler):
    """The host API while a plugin is started only for its check: every call answers 503."""

    def _refuse(self) -> None:
        body = b'{"error": "unavailable", "message": "no host API during a health check"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._refuse()

    def do_PUT(self) -> None:
        self._refuse()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@contextlib.contextmanager
def _no_host_api() -> Iterator[str]:
    """A loopback host API that refuses every call, for the time of a check; its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoHostApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _probe_serving(
    serve: ServeSpec,
    path: str,
    folder: Path,
    timeout: float,
    env: Mapping[str, str] | None,
    clock: Callable[[], float],
) -> tuple[bool, str]:
    """Start the plugin on a free port, poll `path`, stop it: (healthy, detail).

    The plugin gets the contract's variables, with a host API that answers 503 to every
    call (a health check must not depend on it); its output ends the detail when it fails.
    """
    port = free_port()
    with _no_host_api() as api_url, tempfile.TemporaryFile() as output:
        token = secrets.token_urlsafe(16)
        environ = serve_environ(folder, env, port=port, tenant="", api_url=api_url, token=token)
        try:
            process = subprocess.Popen(
                serve.command,
                cwd=folder / DIST_DIR,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            return False, f"cannot run {' '.join(serve.command)!r}: {error.strerror}"
        try:
            url = f"http://127.0.0.1:{port}{path}"
            healthy, detail = _poll_http(url, timeout, clock, alive=lambda: process.poll() is None)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if not healthy:
            output.seek(0)
            tail = output.read()[-OUTPUT_TAIL:].decode("utf-8", "replace").strip()
            detail += f": {tail}" if tail else ""
    return healthy, f"{detail} (serve started for the check)"


def check_environ(base: Mapping[str, str], folder: Path, name: str, version: str) -> dict[str, str]:
    """The environment a health check gets: `base` plus the version's folder, name, version."""
    return {
        **base,
        "POWERX_PLUGIN_DIR": str(folder),
        "POWERX_PLUGIN_NAME": name,
        "POWERX_PLUGIN_VERSION": version,
    }


def plugin_environ(folder: Path, env: Mapping[str, str] | None) -> dict[str, str]:
    """`env` (default: ours) with the version's `dist/` first on PYTHONPATH."""
    environ = dict(os.environ if env is None else env)
    dist = str((folder / DIST_DIR).absolute())
    rest = environ.get("PYTHONPATH")
    environ["PYTHONPATH"] = f"{dist}{os.pathsep}{rest}" if rest else dist
    return environ


def _run_command(
    argv: list[str], folder: Path, timeout: float, env: Mapping[str, str]
) -> tuple[bool, str]:
    shown = " ".join(argv)
    try:
        process = subprocess.Popen(
            argv,
            cwd=folder,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as error:
        return False, f"cannot run {shown!r}: {error.strerror}"
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        return False, f"{shown!r} did not finish within {timeout:g}s"
    tail = output.decode("utf-8", "replace").strip()[-OUTPUT_TAIL:]
    if process.returncode == 0:
        return True, f"{shown!r} exited 0"
    said = f": {tail}" if tail else ""
    return False, f"{shown!r} exited {process.returncode}{said}"


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):  # a daemon that left the group
        process.communicate(timeout=KILL_GRACE)


def _poll_http(
    url: str,
    timeout: float,
    clock: Callable[[], float],
    *,
    alive: Callable[[], bool] = lambda: True,
) -> tuple[bool, str]:
    deadline = clock() + timeout
    last = "no answer"
    with httpx.Client(trust_env=False, follow_redirects=False) as client:
        while True:
            remaining = deadline - clock()
            if remaining <= 0:
                return False, f"GET {url}: {last} within {timeout:g}s"
            if not alive():
                return False, f"GET {url}: the plugin exited before it answered"
            try:
                response = client.get(url, timeout=max(0.05, min(remaining, 5.0)))
            except httpx.HTTPError as error:
                last = type(error).__name__
            else:
                if 200 <= response.status_code < 300:
                    return True, f"GET {url}: {response.status_code}"
                last = f"HTTP {response.status_code}"
            time.sleep(min(POLL_INTERVAL, max(0.0, deadline - clock())))
