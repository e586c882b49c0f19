"""Serving an ASGI app over HTTP with uvicorn, on a socket we bind ourselves.

Shared by the local host (`powerx host`) and the console (`powerx serve`). Binding first
lets a taken port fail as bad input (exit 2) before anything starts, and lets `--port 0`
pick a free one. Signals stay the caller's: uvicorn's own signal handling is left out and
`stop_event` is set by SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn

from pipeline.errors import InputError

LOOPBACK = "127.0.0.1"


def is_loopback(address: str) -> bool:
    """True for an address that only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


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


class QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers (the caller installs its own)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def running(app: Any, sock: socket.socket) -> AsyncIterator[str]:
    """Answer HTTP with `app` on `sock` until the block ends; yields the base URL."""
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", http="httptools"
    )
    server = QuietServer(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
            await asyncio.sleep(0.005)
        yield base_url(sock)
    finally:
        server.should_exit = True
        await task


def stop_event() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (Ctrl-C stops the server gracefully)."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)
    return event
