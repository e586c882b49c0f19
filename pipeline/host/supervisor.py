"""Supervision of one plugin for one tenant: the live instance, restarts, blue/green swaps.

A `Slot` holds the instance that serves `(tenant, plugin)`. When it exits on its own, the
slot starts the same version again after a backoff (0.1 s, doubling, at most 5 s); after
`max_restarts` restarts in a row (an instance that ran `STABLE_SECONDS` starts a new row) it
gives up and is `failed`, with the plugin's last log lines. A new version is started beside
the live one and swapped in only once it listens and passed its health check (`swap`);
until then, and whenever it fails, the old one serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.host.instance import Instance, StartError, Version, log_tail

SlotState = Literal["starting", "running", "restarting", "failed", "refused", "disabled", "stopped"]

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
DEFAULT_MAX_RESTARTS = 5
STABLE_SECONDS = 60.0
"""An instance that ran this long before it exited starts a new series of restarts."""

Launcher = Callable[[Version, str, Path], Awaitable[Instance]]
"""Starts a version for a tenant, logging to a file, ready and healthy (or StartError)."""


@dataclass(frozen=True)
class SlotView:
    """What a slot shows: for status pages and JSON."""

    tenant: str
    plugin: str
    state: SlotState
    revision: str | None
    version: str | None
    restarts: int
    detail: str
    port: int | None


class Slot:
    """The live instance of one plugin for one tenant."""

    def __init__(
        self,
        tenant: str,
        plugin: str,
        launch: Launcher,
        *,
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        on_stopped: Callable[[Instance], None] = lambda instance: None,
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.tenant = tenant
        self.plugin = plugin
        self.launch = launch
        self.max_restarts = max_restarts
        self.on_stopped = on_stopped
        self.say = say
        self.current: Instance | None = None
        self.state: SlotState = "starting"
        self.detail = ""
        self.restarts = 0
        self._watcher: asyncio.Task[None] | None = None
        self._closing = False

    def view(self) -> SlotView:
        live = self.current
        return SlotView(
            tenant=self.tenant,
            plugin=self.plugin,
            state=self.state,
            revision=live.version.revision if live else None,
            version=live.version.version if live else None,
            restarts=self.restarts,
            detail=self.detail,
            port=live.port if live and live.running else None,
        )

    @property
    def serving(self) -> Instance | None:
        """The instance to send requests to (None: nothing answers now)."""
        live = self.current
        return live if live is not None and live.running else None

    def refuse(self, detail: str) -> None:
        """Mark the slot as not started (e.g. a permission the tenant did not grant)."""
        self.state, self.detail = "refused", detail

    async def swap(self, candidate: Instance) -> None:
        """Make a started, healthy `candidate` the live instance; stop the old one.

        New requests go to `candidate` at once; the old instance first finishes the ones it
        is answering (at most DRAIN_SECONDS), so a swap never cuts an answer short.
        """
        old = self.current
        self.current = candidate
        self.state, self.detail, self.restarts = "running", "", 0
        self._watch(candidate)
        if old is not None and old is not candidate:
            if not await old.drain():
                self.say(f"! {self.tenant}/{self.plugin}: stopped the old instance mid-request")
            await self._stop(old)

    async def close(self) -> None:
        """Stop the live instance; no restart follows."""
        self._closing = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self.current is not None:
            await self._stop(self.current)
        self.state = "stopped"

    # -- restarts ----------------------------------------------------------------------

    def _watch(self, instance: Instance) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        self._watcher = asyncio.get_running_loop().create_task(self._supervise(instance))

    async def _supervise(self, instance: Instance) -> None:
        """Restart the version of `instance` whenever it exits, within the budget."""
        version = instance.version
        while True:
            code = await instance.wait()
            if self._closing or self.current is not instance:
                return
            self.on_stopped(instance)
            if time.monotonic() - instance.started_at >= STABLE_SECONDS:
                self.restarts = 0  # it ran well for a while: this crash starts a new series
            tail = log_tail(instance.log_path)
            while True:
                if self.restarts >= self.max_restarts:
                    self.state = "failed"
                    self.detail = (
                        f"exited with code {code}; gave up after {self.restarts} restart(s)"
                        + (f"\n--- last lines of its output ---\n{tail}" if tail else "")
                    )
                    self.say(f"! {self.tenant}/{self.plugin} failed: {self.detail}")
                    return
                delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2**self.restarts)
                self.restarts += 1
                self.state = "restarting"
                self.detail = f"exited with code {code}; restart {self.restarts} in {delay:g} s"
                self.say(f"! {self.tenant}/{self.plugin} {self.detail}")
                await asyncio.sleep(delay)
                try:
                    instance = await self.launch(version, self.tenant, instance.log_path)
                except StartError as error:
                    code = -1
                    tail = error.log_tail or error.detail
                    continue
                self.current = instance
                self.state, self.detail = "running", f"restarted {self.restarts} time(s)"
                break

    async def _stop(self, instance: Instance) -> None:
        await instance.stop()
        self.on_stopped(instance)
