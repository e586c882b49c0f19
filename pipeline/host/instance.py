"""One running plugin process: started from an installed version, probed, stopped.

The process runs `serve.command` without a shell in the version's `dist/` (also first on
`PYTHONPATH`), in its own process group, with a minimal environment: `PORT` (a free loopback
port), `POWERX_TENANT`, `POWERX_API`, `POWERX_TOKEN` (random, this instance's alone), the
plugin's name, version and folder, and a few harmless variables of ours (never our tokens).
Its stdout and stderr go to a log file of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipeline.agent.health import HealthResult, free_port, run_health_check, serve_environ
from pipeline.agent.sync import HEALTH_ENV_KEPT
from pipeline.models.plugin import DIST_DIR, PluginManifest

STOP_GRACE = 3.0
"""Seconds a plugin has to exit after SIGTERM before it is killed."""

POLL = 0.01
"""Seconds between two readiness probes."""

LOG_TAIL_LINES = 20

DRAIN_SECONDS = 30.0
"""Seconds a replaced instance may finish the requests it is answering before it is stopped."""


@dataclass(frozen=True)
class Version:
    """An installed version the host can run."""

    plugin: str
    version: str
    digest: str
    folder: Path
    manifest: PluginManifest
    revision: str

    @property
    def declared(self) -> frozenset[str]:
        return frozenset(self.manifest.permissions)


class StartError(Exception):
    """The plugin did not come up (exited, never listened, or failed its health check)."""

    def __init__(self, step: str, detail: str, log_tail: str = "") -> None:
        super().__init__(detail)
        self.step = step
        self.detail = detail
        self.log_tail = log_tail

    def __str__(self) -> str:
        text = f"{self.step}: {self.detail}"
        if self.log_tail:
            text += f"\n--- last lines of the plugin's output ---\n{self.log_tail}\n---"
        return text


START_MARK = "--- "
"""The host writes a line starting with this before each start of a plugin in its log."""


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of the latest start's output in a log file ('' when none)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 16 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    found = text.splitlines()
    starts = [i for i, line in enumerate(found) if line.startswith(START_MARK)]
    if starts:
        found = found[starts[-1] :]
    return "\n".join(found[-lines:])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the plugin gets SIGKILL if the host dies (even by kill -9)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


PR_SET_PDEATHSIG = 1


class Instance:
    """A plugin version running for one tenant; `start()` it, then `stop()` it."""

    def __init__(
        self,
        version: Version,
        tenant: str,
        *,
        api_url: str,
        log_path: Path,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.version = version
        self.tenant = tenant
        self.api_url = api_url
        self.log_path = log_path
        self.token = secrets.token_urlsafe(32)
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self.health = ""
        """What the health check at start saw."""
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._environ = dict(os.environ if environ is None else environ)

    def __repr__(self) -> str:
        return f"Instance({self.version.plugin} {self.version.version} for {self.tenant})"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def environment(self) -> dict[str, str]:
        """What the plugin process sees: the contract's variables and a few harmless ones."""
        base = {k: self._environ[k] for k in HEALTH_ENV_KEPT if k in self._environ}
        base.update(
            POWERX_PLUGIN_NAME=self.version.plugin,
            POWERX_PLUGIN_VERSION=self.version.version,
        )
        return serve_environ(
            self.version.folder,
            base,
            port=self.port,
            tenant=self.tenant,
            api_url=self.api_url,
            token=self.token,
        )

    async def start(self) -> HealthResult:
        """Start the process, wait until it listens, then run its health check.

        Returns what the check saw; raises StartError (the process is stopped again) when
        any of that fails.
        """
        serve = self.version.manifest.serve
        assert serve is not None, "only a plugin with a serve block is started"
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            log.write(
                f"{START_MARK}{stamp} start {self.version.revision} port {self.port}\n".encode()
            )
            log.flush()
            try:
                self.process = await asyncio.create_subprocess_exec(
                    *serve.command,
                    cwd=self.version.folder / DIST_DIR,
                    env=self.environment(),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            except OSError as error:
                raise StartError(
                    "start", f"cannot run {' '.join(serve.command)!r}: {error.strerror}"
                ) from None
        self.started_at = time.monotonic()
        try:
            await self._wait_listening(serve.ready_seconds)
            result = await self.check_health()
            if not result.healthy:
                raise StartError("health check", result.detail, log_tail(self.log_path))
        except BaseException:
            await self.stop()
            raise
        self.health = result.detail
        return result

    async def _wait_listening(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        assert self.process is not None
        while True:
            if self.process.returncode is not None:
                raise StartError(
                    "start",
                    f"the plugin exited with code {self.process.returncode} before it listened "
                    f"on port {self.port}",
                    log_tail(self.log_path),
                )
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if time.monotonic() > deadline:
                    raise StartError(
                        "start",
                        f"the plugin did not listen on port {self.port} within {seconds:g} s "
                        "(serve.readySeconds)",
                        log_tail(self.log_path),
                    ) from None
                await asyncio.sleep(POLL)
            else:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return

    async def check_health(self) -> HealthResult:
        """The version's health check against this running instance."""
        check = self.version.manifest.health_check
        timeout = float(check.timeout_seconds)
        if check.http is None:
            env = {**self.environment(), "POWERX_TOKEN": ""}
            return await asyncio.to_thread(
                run_health_check, check, self.version.folder, timeout=timeout, env=env
            )
        url = f"http://127.0.0.1:{self.port}{check.http.path}"  # serve: never a fixed port
        started = time.monotonic()
        async with httpx.AsyncClient(trust_env=False) as client:
            last = "no answer"
            while time.monotonic() - started < timeout:
                try:
                    response = await client.get(url, timeout=timeout)
                except httpx.HTTPError as error:
                    last = type(error).__name__
                else:
                    if 200 <= response.status_code < 300:
                        seconds = round(time.monotonic() - started, 3)
                        return HealthResult(True, f"GET {check.http.path}: 200", seconds)
                    last = f"HTTP {response.status_code}"
                if not self.running:
                    break
                await asyncio.sleep(0.05)
        seconds = round(time.monotonic() - started, 3)
        return HealthResult(False, f"GET {check.http.path}: {last}", seconds)

    def begin_request(self) -> None:
        """A request is sent to this instance; `end_request()` when its answer is relayed."""
        self._inflight += 1
        self._idle.clear()

    def end_request(self) -> None:
        self._inflight -= 1
        if self._inflight <= 0:
            self._inflight = 0
            self._idle.set()

    async def drain(self, seconds: float = DRAIN_SECONDS) -> bool:
        """Wait until no request is in flight (at most `seconds`); False when some still were."""
        try:
            await asyncio.wait_for(self._idle.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def wait(self) -> int:
        """Wait for the process to exit; its exit code."""
        assert self.process is not None
        return await self.process.wait()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM to the process group, SIGKILL after `grace` seconds."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
