"""Serving a `Host` over HTTP with uvicorn, on a socket we bind ourselves.

Binding first lets a taken port fail as bad input (exit 2) before anything starts, and
lets `--port 0` pick a free one that the plugins then learn as `POWERX_API`. Signals stay
ours: SIGINT and SIGTERM stop the host gracefully (every plugin process stopped, the store
as it was), uvicorn's own signal handling is left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from pipeline.errors import InputError
from pipeline.fsutil import atomic_write
from pipeline.host.app import create_app
from pipeline.host.host import Host
from pipeline.models.host import HostInfo

DEFAULT_PORT = 7300
INFO_FILE = Path("host") / "host.json"
LOOPBACK = "127.0.0.1"


def bind(listen: str, port: int) -> socket.socket:
    """A listening TCP socket on `listen:port`; InputError when the port is taken."""
    family = socket.AF_INET6 if ":" in listen else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it Nagle holds a response's last write for the client's delayed ACK (40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listen, port))
        sock.listen(512)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise InputError(
                f"port {port} on {listen} is already in use",
                hint="stop the program listening there, or pick another port with "
                "--port (0 picks a free one)",
            ) from None
        raise InputError(
            f"cannot listen on {listen}:{port}: {error.strerror}",
            hint="pick another --port, or --listen an address of this machine",
        ) from None
    sock.setblocking(False)
    return sock


def base_url(sock: socket.socket) -> str:
    """http://host:port of a bound socket (a wildcard address is shown as loopback)."""
    address, port = sock.getsockname()[:2]
    if address in ("0.0.0.0", "::"):  # noqa: S104 - naming what was bound, not binding it
        address = LOOPBACK
    shown = f"[{address}]" if ":" in address else address
    return f"http://{shown}:{port}"


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (the host installs its own)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


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
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", http="httptools"
    )
    server = _Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
            await asyncio.sleep(0.005)
        if announce:
            _write_info(host, url)
        yield Serving(url, host)
    finally:
        await host.close()
        server.should_exit = True
        await task
        await app.state.client.aclose()
        if announce:
            _remove_info(host)


def _write_info(host: Host, url: str) -> None:
    info = HostInfo(pid=os.getpid(), url=url, tenants=host.tenants)
    atomic_write(host.store.root / INFO_FILE, info.model_dump_json(indent=2).encode(), mode=0o600)


def _remove_info(host: Host) -> None:
    with contextlib.suppress(OSError):
        (host.store.root / INFO_FILE).unlink()


def stop_event() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (Ctrl-C stops the host gracefully)."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)
    return event
