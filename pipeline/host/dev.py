"""`px-plugin dev`: build, install and serve a plugin, then again on every saved change.

One process runs a local host for one tenant (`host`, `server`) and watches the plugin's
sources with watchfiles. Each round ("iteration") rebuilds, repacks and installs the plugin
(`install.prepare`), starts the new build beside the live one and swaps it in once it
listens and passed its health check (`Host.deploy`), then switches the store's active link.
A failed build, install or activation leaves the last good build serving and says so. Each
round is a line in `<store>/host/dev/<plugin>.jsonl`, and the plugin's output of each round
is kept in `<store>/host/logs/<tenant>/<plugin>/<round>.log`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.agent.store import PluginStore
from pipeline.errors import InputError, PowerXError
from pipeline.fsutil import make_dirs
from pipeline.host.host import DEFAULT_TENANT, Host
from pipeline.host.install import InstallRequest, Prepared, locate, prepare
from pipeline.host.instance import StartError, Version
from pipeline.host.server import DEFAULT_PORT, LOOPBACK, bind, serving
from pipeline.host.sources import is_source
from pipeline.host.supervisor import DEFAULT_MAX_RESTARTS
from pipeline.host.tenants import TenantStore
from pipeline.models.host import DevIteration, DevOutcome
from pipeline.packaging.manifest import read_manifest

DEV_LOG_DIR = Path("host") / "dev"
MAX_SHOWN_CHANGES = 5
SCREEN_LINES = 20
"""Lines of an error shown in the terminal (the whole error is in the JSONL log)."""

Say = Callable[[str], None]


@dataclass(frozen=True)
class DevRequest:
    """Develop the plugin in `source` against a local host."""

    source: Path
    store: PluginStore
    tenant: str = DEFAULT_TENANT
    listen: str = LOOPBACK
    port: int = DEFAULT_PORT
    grant_declared: bool = True
    max_restarts: int = DEFAULT_MAX_RESTARTS
    environ: Mapping[str, str] | None = None
    debounce_ms: int = 300
    step_ms: int = 30


class DevLoop:
    """One `px-plugin dev` session; `run()` until `stop` is set."""

    def __init__(self, request: DevRequest, say: Say) -> None:
        self.request = request
        self.say = say
        self.plugin_dir, _ = locate(request.source)
        self.manifest = read_manifest(self.plugin_dir).manifest
        if self.manifest.serve is None:
            raise InputError(
                f"{self.manifest.name} has no serve block in {self.plugin_dir / 'plugin.yaml'}: "
                "there is nothing for the local host to run",
                hint="add serve: {command: [...]} (see docs/formats.md, the runtime contract), "
                "or use px-plugin build / pack for a plugin that does not serve",
            )
        self.iteration = 0
        self.serving: Version | None = None
        self.url = ""
        self.host: Host | None = None
        self.log_path = request.store.root / DEV_LOG_DIR / f"{self.manifest.name}.jsonl"

    async def run(self, stop: asyncio.Event, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve and rebuild on change until `stop` is set; the store stays consistent."""
        from watchfiles import awatch

        request = self.request
        sock = bind(request.listen, request.port)  # a taken port fails before any write
        tenants = TenantStore(request.store.root)
        tenants.ensure(request.tenant)
        if request.grant_declared and self.manifest.permissions:
            change = tenants.set_grant(
                request.tenant, self.manifest.name, list(self.manifest.permissions), grant=True
            )
            if change.changed:
                self.say(
                    f"granted {self.manifest.name} {', '.join(change.granted)} for tenant "
                    f"{request.tenant} (declared in plugin.yaml; --no-grant-declared to test "
                    "without)"
                )
        host = Host(
            request.store,
            [request.tenant],
            max_restarts=request.max_restarts,
            environ=request.environ,
            say=self.say,
        )
        self.host = host
        async with serving(host, sock) as live:
            await host.start()
            self.serving = host.versions.get(self.manifest.name)
            self.url = f"{live.url}/t/{request.tenant}/p/{self.manifest.name}/"
            self.say(f"serving {self.manifest.name} for tenant {request.tenant} at {self.url}")
            self.say(f"host status: {live.url}/   (Ctrl-C stops)")
            output = self.manifest.build.output
            watcher = awatch(
                self.plugin_dir,
                watch_filter=lambda _change, path: self._watched(path, output),
                stop_event=stop,
                debounce=request.debounce_ms,
                step=request.step_ms,
                rust_timeout=200,
            )
            # Watch before the first round, so a change saved while it builds is not lost:
            # the task's first step creates the watches and buffers changes until awaited.
            pending = asyncio.ensure_future(anext(watcher))
            await asyncio.sleep(0)
            try:
                await self.iterate(["(start)"], time.time(), build=None)
                if on_ready is not None:
                    on_ready(self.url)
                while True:
                    try:
                        changes = await pending
                    except StopAsyncIteration:
                        break
                    paths = _changed_paths(changes)
                    await self.iterate(self._relative(paths), _saved_at(paths), build=True)
                    pending = asyncio.ensure_future(anext(watcher))
            finally:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await pending
                await watcher.aclose()
        self.say(f"stopped; the store keeps {self._serving_text()} active")

    def _watched(self, path: str, output: str) -> bool:
        try:
            relative = Path(path).relative_to(self.plugin_dir).as_posix()
        except ValueError:
            return False
        return is_source(relative, output)

    def _relative(self, paths: list[str]) -> list[str]:
        return [Path(p).relative_to(self.plugin_dir).as_posix() for p in paths]

    def _serving_text(self) -> str:
        return self.serving.revision if self.serving else "nothing"

    async def iterate(
        self, changed: list[str], saved_at: float, *, build: bool | None
    ) -> DevIteration:
        """One round: build, pack, install, start, check, swap; reported and logged."""
        assert self.host is not None
        self.iteration += 1
        number = self.iteration
        started = datetime.now(UTC)
        durations: dict[str, float] = {}
        outcome: DevOutcome = "active"
        error: str | None = None
        revision: str | None = None
        request = InstallRequest(
            self.request.source,
            self.request.store,
            self.request.tenant,
            grant_declared=self.request.grant_declared,
            environ=self.request.environ,
        )
        log = self.host.log_path(self.request.tenant, self.manifest.name, f"{number:04d}")
        try:
            prepared = await asyncio.to_thread(self._prepare_locked, request, build)
        except PowerXError as failure:
            step = getattr(failure, "step", "read")
            outcome = "build-failed" if step in ("read", "build") else "install-failed"
            error = getattr(failure, "detail", None) or failure.diagnostics()
        else:
            durations.update(prepared.durations)
            version = prepared.version
            revision = version.revision
            if self.serving is not None and self.serving.digest == version.digest:
                outcome = "unchanged"
            else:
                started_at = time.monotonic()
                try:
                    await self.host.deploy(self.request.tenant, version, run=f"{number:04d}")
                except StartError as failure:
                    outcome, error = "activation-failed", str(failure)
                else:
                    await asyncio.to_thread(self._activate, version)
                    self.serving = version
                durations["start"] = time.monotonic() - started_at
        total = max(0.0, time.time() - saved_at)
        record = DevIteration(
            iteration=number,
            started_at=started,
            changed=changed[:MAX_SHOWN_CHANGES],
            outcome=outcome,
            revision=revision,
            serving=self.serving.revision if self.serving else None,
            durations={k: round(v, 4) for k, v in durations.items()},
            total_seconds=round(total, 4),
            error=error,
            log=str(log) if log.exists() else None,
        )
        self._log(record)
        self._report(record)
        return record

    def _prepare_locked(self, request: InstallRequest, build: bool | None) -> Prepared:
        """`prepare` holding the store's lock (an install or sync cleans staging/ under it)."""
        with request.store.locked():
            return prepare(request, build=build, serving=self._serving_text())

    def _activate(self, version: Version) -> None:
        store = self.request.store
        with store.locked():
            store.activate(version.plugin, version.folder)

    def _log(self, record: DevIteration) -> None:
        make_dirs(self.log_path.parent)
        with self.log_path.open("a", encoding="utf-8") as handle:
            handle.write(record.model_dump_json(by_alias=True) + "\n")

    def _report(self, record: DevIteration) -> None:
        what = ", ".join(record.changed) + (
            " ..." if len(record.changed) >= MAX_SHOWN_CHANGES else ""
        )
        steps = " ".join(f"{k} {v:.2f}" for k, v in record.durations.items())
        head = f"#{record.iteration} {what}:"
        if record.outcome == "active":
            self.say(f"{head} active {record.revision} in {record.total_seconds:.2f} s [{steps}]")
        elif record.outcome == "unchanged":
            self.say(f"{head} the build is unchanged; still serving {record.serving}")
        else:
            label = record.outcome.replace("-", " ").upper()
            lines = (record.error or "").splitlines()
            shown = lines[:SCREEN_LINES] + (
                [f"... ({len(lines) - SCREEN_LINES} more lines in {self.log_path})"]
                if len(lines) > SCREEN_LINES
                else []
            )
            self.say(f"{head} {label} after {record.total_seconds:.2f} s")
            self.say("\n".join(f"  {line}" for line in shown))
            self.say(f"  serving last good: {record.serving or 'nothing (no good build yet)'}")


def _changed_paths(changes: set[tuple[Any, str]]) -> list[str]:
    """The paths a batch changed, without an editor's short-lived temporary files."""
    from watchfiles import Change

    added = {path for change, path in changes if change == Change.added}
    kept = {
        path
        for change, path in changes
        if Path(path).exists() or (change == Change.deleted and path not in added)
    }
    return sorted(kept) or sorted({path for _change, path in changes})


def _saved_at(paths: list[str]) -> float:
    """When the newest of the changed files was saved (now, when all are gone)."""
    times = []
    for path in paths:
        try:
            times.append(Path(path).stat().st_mtime)
        except OSError:
            continue
    return max(times) if times else time.time()
