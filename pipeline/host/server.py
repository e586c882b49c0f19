"""Serving a `Host` over HTTP with uvicorn, on a socket we bind ourselves.

Binding first lets a taken port fail as bad input (exit 2) before anything starts, and
lets `--port 0` pick a free one that the plugins then learn as `POWERX_API`. Signals stay
ours: SIGINT and SIGTERM stop the host gracefully (every plugin process stopped, the store
as it was), uvicorn's own signal handling is left out.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.fsutil import atomic_write
from pipeline.host.app import create_app
from pipeline.host.host import Host
from pipeline.models.host import HostInfo
from pipeline.webserver import LOOPBACK, base_url, bind, running, stop_event

__all__ = ["DEFAULT_PORT", "LOOPBACK", "Serving", "bind", "serving", "stop_event"]

DEFAULT_PORT = 7300
INFO_FILE = Path("host") / "host.json"


@dataclass(frozen=True)
class Serving:
    """A host answering HTTP at `url`."""

    url: str
    host: Host


@contextlib.asynccontextmanager
async def serving(
    host: Host, sock: socket.socket, *, announce: bool = True
) -> AsyncIterator[Serving]:
    """Answer HTTP for `host` on `sock`; on exit stop its plugins, then the server.

    `announce` writes `host/host.json` (where the host of this store listens) while it runs.
    """
    url = base_url(sock)
    host.api_url = f"{url}/v1"
    app = create_app(host)
    closed = False
    try:
        async with running(app, sock):
            if announce:
                _write_info(host, url)
            try:
                yield Serving(url, host)
            finally:
                closed = True
                await host.close()  # the plugins stop while the server still answers
    finally:
        if not closed:
            await host.close()
        await app.state.client.aclose()
        if announce:
            _remove_info(host)


def _write_info(host: Host, url: str) -> None:
    info = HostInfo(pid=os.getpid(), url=url, tenants=host.tenants)
    atomic_write(host.store.root / INFO_FILE, info.model_dump_json(indent=2).encode(), mode=0o600)


def _remove_info(host: Host) -> None:
    with contextlib.suppress(OSError):
        (host.store.root / INFO_FILE).unlink()
